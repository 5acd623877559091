#version 330 core
// Pigment flow, output: the dye lit as a surface (sheen: normals from its luma gradient,
// a diffuse term and a specular glint), plus bloom from the bright-pass texture (5 taps),
// then the filmic tone and colour of common/tone.glsl. uv: GL, bottom-left.
#include "common/tone.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D dye;
uniform sampler2D bloom_source;
uniform float sheen;          // 0 = flat; 1 = full diffuse relief
uniform float sheen_height;   // luma gradient -> surface slope
uniform float glint;          // specular strength
uniform float bloom;          // bloom added
uniform float bloom_spread;   // bloom tap distance, in bloom texels
uniform Tone tone;

void main() {
    vec3 c = texture(dye, uv).rgb;
    if (sheen != 0.0 || glint != 0.0) {
        vec2 texel = 1.0 / vec2(textureSize(dye, 0));
        float dx = luma(texture(dye, uv + vec2(texel.x, 0.0)).rgb) - luma(texture(dye, uv - vec2(texel.x, 0.0)).rgb);
        float dy = luma(texture(dye, uv + vec2(0.0, texel.y)).rgb) - luma(texture(dye, uv - vec2(0.0, texel.y)).rgb);
        vec3 n = normalize(vec3(-dx * sheen_height, -dy * sheen_height, 1.0));
        const vec3 light = vec3(-0.48, 0.6, 0.64);      // from the upper left, normalised
        const vec3 halfway = vec3(-0.2722, 0.3403, 0.9);  // normalize(light + view (0, 0, 1))
        float diffuse = max(dot(n, light), 0.0) / light.z;
        c *= mix(1.0, diffuse, sheen);
        c += glint * pow(max(dot(n, halfway), 0.0), 40.0) * (0.25 + c);
    }
    if (bloom != 0.0) {
        vec2 t = bloom_spread / vec2(textureSize(bloom_source, 0));
        vec3 b = 0.4 * texture(bloom_source, uv).rgb
               + 0.15 * (texture(bloom_source, uv + vec2(t.x, t.y)).rgb + texture(bloom_source, uv + vec2(-t.x, t.y)).rgb
                       + texture(bloom_source, uv + vec2(t.x, -t.y)).rgb + texture(bloom_source, uv + vec2(-t.x, -t.y)).rgb);
        c += bloom * b;
    }
    frag_color = vec4(apply_tone(c, tone), 1.0);
}
