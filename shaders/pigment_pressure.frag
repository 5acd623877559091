#version 330 core
// Pigment flow, projection step 2: one Jacobi iteration of the pressure Poisson equation
// (laplacian p = divergence, grid units). uv: GL, bottom-left.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D pressure;
uniform sampler2D divergence;

void main() {
    vec2 texel = 1.0 / vec2(textureSize(pressure, 0));
    float sum = texture(pressure, uv + vec2(texel.x, 0.0)).x + texture(pressure, uv - vec2(texel.x, 0.0)).x
              + texture(pressure, uv + vec2(0.0, texel.y)).x + texture(pressure, uv - vec2(0.0, texel.y)).x;
    frag_color = vec4(0.25 * (sum - texture(divergence, uv).x), 0.0, 0.0, 1.0);
}
