#version 330 core
// Video feedback: the previous output, zoomed and rotated about the centre, decays into
// the new frame:  out = mix(new, previous_transformed, amount).
// zoom > 1 makes the trails flow outward; rotate is radians per frame, counter-clockwise.
#include "common/uv.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D new_frame;
uniform sampler2D previous_output;
uniform float amount;
uniform float zoom;
uniform float rotate;
uniform float aspect;

void main() {
    vec2 q = to_height_units(uv, vec2(0.5), aspect);
    vec2 p = from_height_units(rotate2(q, -rotate) / zoom, vec2(0.5), aspect);
    vec3 previous = texture(previous_output, mirror_uv(p)).rgb;
    vec3 fresh = texture(new_frame, uv).rgb;
    frag_color = vec4(mix(fresh, previous, amount), 1.0);
}
