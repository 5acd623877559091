#version 330 core
// The live chain's first pass: crossfade -> swirl -> flow (content.frag's formulas) and
// feedback (feedback.frag's formulas) in one draw, into the feedback history:
//   out = mix(content(warped uv), previous_out(zoomed, rotated uv), amount)
// The flow velocity is looked up in the field that flow_field.frag drew this frame instead
// of evaluating the noise here. One draw instead of two, and no intermediate texture.
#include "common/warp.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D previous_frame;
uniform sampler2D newest_frame;
uniform sampler2D flow_field;
uniform sampler2D previous_output;
uniform vec2 previous_scale;
uniform vec2 newest_scale;
uniform float content_mix;

uniform float swirl;
uniform float swirl_radius;
uniform vec2 swirl_centre;
uniform float swirl_phase;
uniform float flow;
uniform float field_margin;

uniform float amount;
uniform vec2 feedback_turn;  // (cos, sin) of -rotate, divided by zoom (computed once, on the CPU)
uniform float aspect;

vec2 field_velocity(vec2 p) {
    return texture(flow_field, (p + field_margin) / (1.0 + 2.0 * field_margin)).xy;
}

void main() {
    vec2 p = uv;
    if (flow != 0.0) {
        // flow_source() of common/warp.glsl with the velocity from the field.
        vec2 half_step = p - 0.5 * flow * field_velocity(p);
        p = mirror_uv(p - flow * field_velocity(half_step));
    }
    if (swirl != 0.0) {
        p = mirror_uv(swirl_source(p, swirl, swirl_radius, swirl_centre, swirl_phase, aspect));
    }
    vec3 a = texture(previous_frame, content_uv(p, previous_scale)).rgb;
    vec3 b = texture(newest_frame, content_uv(p, newest_scale)).rgb;
    vec3 fresh = mix(a, b, content_mix);

    vec2 q = to_height_units(uv, vec2(0.5), aspect);
    vec2 r = vec2(feedback_turn.x * q.x - feedback_turn.y * q.y, feedback_turn.y * q.x + feedback_turn.x * q.y);
    vec3 previous = texture(previous_output, mirror_uv(from_height_units(r, vec2(0.5), aspect))).rgb;
    frag_color = vec4(mix(fresh, previous, amount), 1.0);
}
