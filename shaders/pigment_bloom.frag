#version 330 core
// Pigment flow, the bloom's source (a quarter of the dye's size, only when bloom is on): each
// pixel the exact mean of a 4x4 block of the dye (four bilinear taps, each between four
// texels), alpha = the bright excess the dye pass wrote. PigmentFlow builds this texture's
// mipmaps for the wide glow: a sixteenth of the work of the dye's own mipmaps, and the output
// pass reads two small textures instead of two levels of a big one. uv: GL, bottom-left.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D dye;

void main() {
    vec2 texel = 1.0 / vec2(textureSize(dye, 0));
    frag_color = 0.25 * (texture(dye, uv + texel * vec2(-1.0, -1.0)) + texture(dye, uv + texel * vec2(1.0, -1.0))
                       + texture(dye, uv + texel * vec2(-1.0, 1.0)) + texture(dye, uv + texel * vec2(1.0, 1.0)));
}
