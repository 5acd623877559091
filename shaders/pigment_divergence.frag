#version 330 core
// Pigment flow, projection step 1: divergence of the velocity grid (central differences,
// per grid cell; the walls reflect: clamp-to-edge sampling). uv: GL, bottom-left.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D velocity;

void main() {
    vec2 texel = 1.0 / vec2(textureSize(velocity, 0));
    float right = texture(velocity, uv + vec2(texel.x, 0.0)).x;
    float left = texture(velocity, uv - vec2(texel.x, 0.0)).x;
    float up = texture(velocity, uv + vec2(0.0, texel.y)).y;
    float down = texture(velocity, uv - vec2(0.0, texel.y)).y;
    frag_color = vec4(0.5 * (right - left + up - down), 0.0, 0.0, 1.0);
}
