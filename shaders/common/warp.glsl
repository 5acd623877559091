// The two coordinate warps, as functions of the output uv (GL: (0,0) bottom-left) that
// return where to sample. warp_feedback.frag and content.frag compose them with the
// crossfade so the chain samples the content only once (the reference passes in
// tests/reference_shaders/ apply one each).
// Needs common/uv.glsl and common/noise.glsl.
#include "common/uv.glsl"
#include "common/noise.glsl"

// Swirl: rotate the sampling point about `centre` by an angle that is largest at the
// centre and falls to zero at `radius` (in image heights), oscillating over time:
//   angle = strength * (1 - smoothstep(0, 1, r / radius)) * cos(2 pi phase)
// where phase = integral of swirl_speed dt (so speed 0 holds a still swirl).
vec2 swirl_source(vec2 p, float strength, float radius, vec2 centre, float phase, float aspect) {
    vec2 q = to_height_units(p, centre, aspect);
    float falloff = 1.0 - smoothstep(0.0, 1.0, length(q) / radius);
    float angle = strength * falloff * cos(6.28318530718 * phase);
    return from_height_units(rotate2(q, angle), centre, aspect);
}

// Curl-noise velocity at p in uv units per unit strength: the field is the curl of 3D
// gradient noise at (x * scale, y * scale, phase), measured in image heights.
vec2 flow_velocity(vec2 p, float scale, float phase, float aspect) {
    vec2 q = vec2(p.x * aspect, p.y) * scale;
    return curl_noise(q, phase) / vec2(aspect, 1.0);
}

// Flow: backward advection along the curl-noise field with one midpoint (RK2) step: the
// pixel at p takes its colour from where the flow started, `strength` image heights per
// unit velocity away. Divergence-free, so it folds without piling colour up.
vec2 flow_source(vec2 p, float strength, float scale, float phase, float aspect) {
    vec2 half_step = p - 0.5 * strength * flow_velocity(p, scale, phase, aspect);
    return p - strength * flow_velocity(half_step, scale, phase, aspect);
}
