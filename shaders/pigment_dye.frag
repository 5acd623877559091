#version 330 core
// Pigment flow, the one dye pass (render size): the accumulated dye advected along the
// velocity (semi-Lagrangian, one midpoint step, bilinear; the velocity grid is small and
// smooth, so its bilinear taps are cheap), an optional 4-tap diffusion (< 0 sharpens), a
// decay that is faster in the dark, and the newest content (crossfaded between the last two
// filled frames) injected with a mix that rises with the content's brightness (alpha out:
// the bright excess, the bloom's source):
//   dye' = mix(max(decay * advect(dye) - fade * dt, 0), content, inject * gate(luma))
// The subtractive fade takes faint dye to true black in finite time: no fog builds up.
// The content's hue is turned by hue_spread times the slow hue field (velocity z).
// Optional parts are compiled in by #define (PigmentFlow picks the variant): DIFFUSION, SMEAR,
// HUE. Off, they cost nothing (llvmpipe would run an untaken uniform branch anyway).
// uv: GL, bottom-left. Velocity is in output heights per second, y up.
#include "common/color.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D previous_dye;
uniform sampler2D velocity;
uniform sampler2D fill_previous;
uniform sampler2D fill_newest;
uniform float content_mix;
uniform float dt_speed;       // dt * speed: seconds of flow this frame
uniform float aspect;
uniform float diffusion;      // mix of a 4-tap blur into the advected dye; < 0 sharpens; 0 = no taps
uniform float decay_factor;   // exp(-decay * dt), computed on the CPU
uniform float fade;           // fade * dt: dye value subtracted this frame (faint dye -> black)
uniform float inject_alpha;   // this frame's injection mix (frame-rate corrected on the CPU)
uniform float inject_gate;    // 0: inject everywhere; 1: only where the content is bright
uniform vec2 gate_range;      // content luma above the frame's mean where the gated injection
                              // starts .. is full (relative: a frame with a brighter background
                              // does not flood the screen)
uniform float smear;          // 1: inject the content averaged over this frame's path (no dotted
                              // trails behind bright points in fast flow); 0: one sample
uniform float hue_spread;     // turns of hue shift at the hue field's extremes (velocity z)
uniform float bloom_threshold; // alpha out: luma above this (the bloom's source, read from mipmaps)

vec3 content_at(vec2 p) {
    return mix(textureLod(fill_previous, p, 0.0).rgb, textureLod(fill_newest, p, 0.0).rgb, content_mix);
}

void main() {
    vec2 to_uv = 1.0 / vec2(aspect, 1.0);
    vec3 v = texture(velocity, uv).xyz;  // xy: velocity, z: hue field
    vec2 mid = uv - 0.5 * dt_speed * v.xy * to_uv;
    vec2 back = uv - dt_speed * texture(velocity, mid).xy * to_uv;
    vec3 dye = textureLod(previous_dye, back, 0.0).rgb;  // level 0: the mipmaps are the bloom's
#ifdef DIFFUSION
    {
        vec2 texel = 1.0 / vec2(textureSize(previous_dye, 0));
        vec3 blur = 0.25 * (textureLod(previous_dye, back + vec2(texel.x, 0.0), 0.0).rgb
                          + textureLod(previous_dye, back - vec2(texel.x, 0.0), 0.0).rgb
                          + textureLod(previous_dye, back + vec2(0.0, texel.y), 0.0).rgb
                          + textureLod(previous_dye, back - vec2(0.0, texel.y), 0.0).rgb);
        dye = max(mix(dye, blur, diffusion), 0.0);
    }
#endif
    dye = max(dye * decay_factor - fade, 0.0);
    vec3 content = content_at(uv);
#ifdef SMEAR
    // The parcel now at uv swept over back .. uv during the frame: average its two ends.
    content = mix(content, 0.5 * (content + content_at(back)), smear);
#endif
#ifdef HUE
    content = max(rotate_hue(content, hue_spread * v.z), 0.0);
#endif
    // The frame's mean: the fills' last mip level (built on push), crossfaded like the content.
    float mean = luma(mix(textureLod(fill_previous, vec2(0.5), 16.0).rgb, textureLod(fill_newest, vec2(0.5), 16.0).rgb, content_mix));
    float alpha = inject_alpha * mix(1.0, smoothstep(mean + gate_range.x, mean + gate_range.y, luma(content)), inject_gate);
    // The cap keeps a sharpening (negative diffusion) feedback bounded.
    vec3 out_dye = min(mix(dye, content, alpha), vec3(4.0));
    frag_color = vec4(out_dye, max(luma(out_dye) - bloom_threshold, 0.0));
}
