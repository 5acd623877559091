#version 330 core
// The filmic tone and colour of common/tone.glsl on its own (tests compare it with the numpy
// reference in installation/render/tone.py; a chain may also use it as a standalone grade).
#include "common/tone.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform Tone tone;

void main() {
    frag_color = vec4(apply_tone(texture(source, uv).rgb, tone), 1.0);
}
