#version 330 core
// Crossfade between the previous and the newest content frame, so a generator that
// delivers 10 frames a second still moves smoothly at the display rate.
// Each content texture has its own scale about the centre (fit to the output: cover, stretch or tile).
#include "common/uv.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D previous_frame;
uniform sampler2D newest_frame;
uniform vec2 previous_scale;  // uv scale about the centre, 1 = stretch to the output
uniform vec2 newest_scale;
uniform float content_mix;    // 0: previous, 1: newest

void main() {
    vec3 a = texture(previous_frame, content_uv(uv, previous_scale)).rgb;
    vec3 b = texture(newest_frame, content_uv(uv, newest_scale)).rgb;
    frag_color = vec4(mix(a, b, content_mix), 1.0);
}
