#version 330 core
// Flow warp on its own (curl-noise advection, see common/warp.glsl).
#include "common/warp.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform float flow;  // image heights per unit velocity
uniform float flow_scale;     // noise cells per image height
uniform float flow_phase;     // position of the field along noise z (= integral of flow_speed dt)
uniform float aspect;

void main() {
    vec2 p = flow_source(uv, flow, flow_scale, flow_phase, aspect);
    frag_color = vec4(texture(source, mirror_uv(p)).rgb, 1.0);
}
