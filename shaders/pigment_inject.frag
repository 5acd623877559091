#version 330 core
// Pigment flow, the injection (fill size, every frame): what the dye pass mixes in, made once
// at the small fill size instead of per dye pixel (on llvmpipe a texture tap at the dye's size
// costs ~1 ms a frame): the crossfade of the last two filled frames, its hue turned by
// hue_spread times the slow hue field (velocity z), and the injection mix, which rises with
// the content's brightness above the frame's mean (the fills' last mip level). Out:
// premultiplied, rgb = content * mix, a = mix. SMEAR averages that over both ends of the
// frame's path (the parcel now at uv swept over back .. uv): no dotted trails behind bright
// points in fast flow; here, not per dye pixel (the fill is smooth at this size).
// HUE and SMEAR are compiled in by #define (PigmentFlow picks the variant). uv: GL, bottom-left.
// Velocity is in output heights per second, y up.
#include "common/color.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D fill_previous;
uniform sampler2D fill_newest;
uniform sampler2D velocity;
uniform float content_mix;
uniform float inject_alpha;   // this frame's injection mix (frame-rate corrected on the CPU)
uniform float inject_gate;    // 0: inject everywhere; 1: only where the content is bright
uniform vec2 gate_range;      // content luma above the frame's mean where the gated injection
                              // starts .. is full (relative: a frame with a brighter background
                              // does not flood the screen)
uniform float hue_spread;     // turns of hue shift at the hue field's extremes (velocity z)
uniform float smear;          // 1: average over the frame's path; 0: one sample
uniform float dt_speed;       // dt * speed: seconds of flow this frame
uniform float aspect;

// The injection at p: content (premultiplied) and mix. `mean`: the frame's mean luma.
vec4 injection(vec2 p, float hue_turns, float mean) {
    vec3 content = mix(textureLod(fill_previous, p, 0.0).rgb, textureLod(fill_newest, p, 0.0).rgb, content_mix);
#ifdef HUE
    content = max(rotate_hue(content, hue_turns), 0.0);
#endif
    float alpha = inject_alpha * mix(1.0, smoothstep(mean + gate_range.x, mean + gate_range.y, luma(content)), inject_gate);
    return vec4(content * alpha, alpha);
}

void main() {
    vec3 v = texture(velocity, uv).xyz;  // xy: velocity, z: the hue field
    float hue_turns = hue_spread * v.z;
    // The frame's mean: the fills' last mip level (built on push), crossfaded like the content.
    float mean = luma(mix(textureLod(fill_previous, vec2(0.5), 16.0).rgb, textureLod(fill_newest, vec2(0.5), 16.0).rgb, content_mix));
    vec4 injected = injection(uv, hue_turns, mean);
#ifdef SMEAR
    vec2 back = uv - dt_speed * v.xy / vec2(aspect, 1.0);
    injected = mix(injected, 0.5 * (injected + injection(back, hue_turns, mean)), smear);
#endif
    frag_color = injected;
}
