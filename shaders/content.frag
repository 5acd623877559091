#version 330 core
// The reference chain's first pass: crossfade -> swirl -> flow in one draw. Equivalent to running
// tests/reference_shaders/{crossfade,swirl,flow}.frag one after another, except that the content is
// filtered once (sharper) at the composed coordinate: flow decides where to look in the
// swirled image, swirl decides where to look in the crossfaded one.
#include "common/warp.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D previous_frame;
uniform sampler2D newest_frame;
uniform vec2 previous_scale;
uniform vec2 newest_scale;
uniform float content_mix;

uniform float swirl;
uniform float swirl_radius;
uniform vec2 swirl_centre;
uniform float swirl_phase;
uniform float flow;
uniform float flow_scale;
uniform float flow_phase;
uniform float aspect;

void main() {
    vec2 p = uv;
    if (flow != 0.0) {
        p = mirror_uv(flow_source(p, flow, flow_scale, flow_phase, aspect));
    }
    if (swirl != 0.0) {
        p = mirror_uv(swirl_source(p, swirl, swirl_radius, swirl_centre, swirl_phase, aspect));
    }
    vec3 a = texture(previous_frame, content_uv(p, previous_scale)).rgb;
    vec3 b = texture(newest_frame, content_uv(p, newest_scale)).rgb;
    frag_color = vec4(mix(a, b, content_mix), 1.0);
}
