#version 330 core
// Flow warp: move the image along a curl-noise velocity field (divergence-free, so it
// swirls and folds without piling colour up or thinning it out).
// Backward advection with one midpoint (RK2) step: the pixel at uv takes its colour from
// where the flow started, a displacement of `strength` image heights per unit velocity.
#include "common/uv.glsl"
#include "common/noise.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform float strength;  // image heights per unit velocity
uniform float scale;     // noise cells per image height
uniform float phase;     // position of the field along noise z (= integral of flow_speed dt)
uniform float aspect;

vec2 velocity_uv(vec2 p) {
    vec2 q = vec2(p.x * aspect, p.y) * scale;
    return curl_noise(q, phase) / vec2(aspect, 1.0);  // height units -> uv
}

void main() {
    vec2 half_step = uv - 0.5 * strength * velocity_uv(uv);
    vec2 start = uv - strength * velocity_uv(half_step);
    frag_color = vec4(texture(source, mirror_uv(start)).rgb, 1.0);
}
