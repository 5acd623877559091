#version 330 core
// Pigment flow, the one pass at the render size: the dye, and from it the picture.
// Dye (out 0, RGBA16F): the accumulated dye advected along the velocity (semi-Lagrangian,
// one Euler step, bilinear: the flow moves a few pixels a frame and is smooth, so a midpoint
// step changed nothing visible and cost a tap), an optional 4-tap diffusion (< 0 sharpens),
// a decay, and the injection (pigment_inject.frag: premultiplied content and mix, smeared
// along the frame's path, made at the small fill size):
//   dye' = max(decay * advect(dye) - fade * dt, 0) * (1 - a) + content * a
// The subtractive fade takes faint dye to true black in finite time: no fog builds up.
// Alpha: the bright excess, the bloom's source (pigment_bloom.frag).
// Picture (out 1, RGBA8): the new dye lit as a surface (SHEEN: normals from its luma
// gradient, taken with dFdx/dFdy: no extra taps; a diffuse term and a specular glint), plus
// the bloom's glow (BLOOM: pigment_glow.frag, a quarter size, made from the previous frame's
// dye: a frame late, which does not show in a wide glow), then the filmic tone of
// common/tone.glsl, its exposure moved by the auto exposure (the glow's alpha).
// On llvmpipe a texture tap here costs ~1 ms a frame at 640x360 and a pass ~1.5 ms more, so
// this is one pass of four taps: velocity, dye, injection, glow.
// Parts are compiled in by #define (PigmentFlow picks the variant): DIFFUSION, SHEEN, BLOOM
// (the glow tap: on for the bloom or the auto exposure).
// Off, they cost nothing (llvmpipe would run an untaken uniform branch anyway).
// uv: GL, bottom-left. Velocity is in output heights per second, y up.
#include "common/tone.glsl"

in vec2 uv;
layout(location = 0) out vec4 dye_out;
layout(location = 1) out vec4 frag_color;

uniform sampler2D previous_dye;
uniform sampler2D velocity;
uniform sampler2D inject;
uniform sampler2D glow;       // the near + wide bloom at a quarter size (pigment_glow.frag)
uniform float dt_speed;       // dt * speed: seconds of flow this frame
uniform float aspect;
uniform float diffusion;      // mix of a 4-tap blur into the advected dye; < 0 sharpens; 0 = no taps
uniform float decay_factor;   // exp(-decay * dt), computed on the CPU
uniform float fade;           // fade * dt: dye value subtracted this frame (faint dye -> black)
uniform float bloom_threshold; // alpha out: luma above this (the bloom's source)
uniform float sheen;          // 0 = flat; 1 = full diffuse relief
uniform float sheen_height;   // luma gradient (per pixel of this pass) -> surface slope
uniform float glint;          // specular strength
uniform float bloom;          // bloom added
uniform Tone tone;

void main() {
    vec2 back = uv - dt_speed * texture(velocity, uv).xy / vec2(aspect, 1.0);
    vec3 dye = texture(previous_dye, back).rgb;
#ifdef DIFFUSION
    {
        vec2 texel = 1.0 / vec2(textureSize(previous_dye, 0));
        vec3 blur = 0.25 * (texture(previous_dye, back + vec2(texel.x, 0.0)).rgb
                          + texture(previous_dye, back - vec2(texel.x, 0.0)).rgb
                          + texture(previous_dye, back + vec2(0.0, texel.y)).rgb
                          + texture(previous_dye, back - vec2(0.0, texel.y)).rgb);
        dye = max(mix(dye, blur, diffusion), 0.0);
    }
#endif
    dye = max(dye * decay_factor - fade, 0.0);
    vec4 injected = texture(inject, uv);
    // The cap keeps a sharpening (negative diffusion) feedback bounded.
    vec3 c = min(dye * (1.0 - injected.a) + injected.rgb, vec3(4.0));
    float l = luma(c);
    dye_out = vec4(c, max(l - bloom_threshold, 0.0));
#ifdef SHEEN
    {
        // Per 2x2 quad on llvmpipe: the relief is a little coarser than 2 taps would give, for free.
        vec3 n = normalize(vec3(-2.0 * sheen_height * vec2(dFdx(l), dFdy(l)), 1.0));
        const vec3 light = vec3(-0.48, 0.6, 0.64);      // from the upper left, normalised
        const vec3 halfway = vec3(-0.2722, 0.3403, 0.9);  // normalize(light + view (0, 0, 1))
        float diffuse = max(dot(n, light), 0.0) / light.z;
        c *= mix(1.0, diffuse, sheen);
        float h = max(dot(n, halfway), 0.0);
        float h8 = h * h;
        h8 *= h8;
        h8 *= h8;
        c += glint * h8 * h8 * h8 * (0.25 + c);  // h^40
    }
#endif
    Tone t = tone;
#ifdef BLOOM
    vec4 g = texture(glow, uv);
    c += bloom * g.rgb;
    t.exposure += g.a;  // the auto exposure's offset (pigment_glow.frag)
#endif
    frag_color = vec4(apply_tone(c, t), 1.0);
}
