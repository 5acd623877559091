#version 330 core
// Pigment flow, step 2 (render size): the accumulated dye advected along the velocity
// (semi-Lagrangian, one midpoint step, bilinear), a little diffusion, a slow decay, and the
// newest content (crossfaded between the last two filled frames) injected with a live mix:
//   dye' = mix(decay * advect(dye), content, inject * mix(1, smoothstep(0, 0.3, luma), gate))
// where content's hue is turned by hue_spread times the slow hue field (velocity z).
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
uniform float diffusion;      // 0..1: mix of a 4-tap blur into the advected dye; < 0 sharpens
                              // instead (undoes the bilinear advection's own blur)
uniform float decay_factor;   // exp(-decay * dt), computed on the CPU
uniform float inject_alpha;   // this frame's injection mix (frame-rate corrected on the CPU)
uniform float inject_gate;    // 0: inject everywhere; 1: only where the content is bright
uniform float smear;          // 1: inject the content averaged along this frame's path (no dotted
                              // trails behind small bright points in fast flow); 0: one sample
uniform float hue_spread;     // turns of hue shift at the hue field's extremes (velocity z)

void main() {
    vec2 to_uv = 1.0 / vec2(aspect, 1.0);
    vec2 v = texture(velocity, uv).xy;
    vec2 mid = uv - 0.5 * dt_speed * v * to_uv;
    vec2 back = uv - dt_speed * texture(velocity, mid).xy * to_uv;
    vec3 dye = texture(previous_dye, back).rgb;
    if (diffusion > 0.0) {
        vec2 texel = 1.0 / vec2(textureSize(previous_dye, 0));
        vec3 blur = 0.25 * (texture(previous_dye, back + vec2(texel.x, 0.0)).rgb
                          + texture(previous_dye, back - vec2(texel.x, 0.0)).rgb
                          + texture(previous_dye, back + vec2(0.0, texel.y)).rgb
                          + texture(previous_dye, back - vec2(0.0, texel.y)).rgb);
        dye = max(mix(dye, blur, diffusion), 0.0);
    }
    dye *= decay_factor;
    vec3 content = mix(texture(fill_previous, uv).rgb, texture(fill_newest, uv).rgb, content_mix);
    if (smear > 0.0) {
        // The parcel now at uv swept over back .. uv during the frame: average 3 points of it.
        vec3 at_mid = mix(texture(fill_previous, mid).rgb, texture(fill_newest, mid).rgb, content_mix);
        vec3 at_back = mix(texture(fill_previous, back).rgb, texture(fill_newest, back).rgb, content_mix);
        content = mix(content, (content + at_mid + at_back) / 3.0, smear);
    }
    if (hue_spread != 0.0) {
        content = max(rotate_hue(content, hue_spread * texture(velocity, uv).z), 0.0);
    }
    float alpha = inject_alpha * mix(1.0, smoothstep(0.0, 0.3, luma(content)), inject_gate);
    // The cap keeps a sharpening (negative diffusion) feedback bounded.
    frag_color = vec4(min(mix(dye, content, alpha), vec3(4.0)), 1.0);
}
