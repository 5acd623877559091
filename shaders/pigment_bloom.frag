#version 330 core
// Pigment flow, bloom source (a quarter of the render size): the dye's bright part,
// max(c - threshold, 0), box-averaged over 4 bilinear taps (16 texels). uv: GL, bottom-left.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D dye;
uniform float threshold;

void main() {
    vec2 texel = 1.0 / vec2(textureSize(dye, 0));
    vec3 c = 0.25 * (texture(dye, uv + texel * vec2(1.0, 1.0)).rgb + texture(dye, uv + texel * vec2(-1.0, 1.0)).rgb
                   + texture(dye, uv + texel * vec2(1.0, -1.0)).rgb + texture(dye, uv + texel * vec2(-1.0, -1.0)).rgb);
    frag_color = vec4(max(c - threshold, 0.0), 1.0);
}
