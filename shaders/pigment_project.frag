#version 330 core
// Pigment flow, projection step 3: subtract the pressure gradient, leaving the velocity
// (nearly) divergence-free. uv: GL, bottom-left.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D velocity;
uniform sampler2D pressure;

void main() {
    vec2 texel = 1.0 / vec2(textureSize(pressure, 0));
    float dx = texture(pressure, uv + vec2(texel.x, 0.0)).x - texture(pressure, uv - vec2(texel.x, 0.0)).x;
    float dy = texture(pressure, uv + vec2(0.0, texel.y)).x - texture(pressure, uv - vec2(0.0, texel.y)).x;
    vec3 v = texture(velocity, uv).xyz;  // z: the hue field, passed through
    frag_color = vec4(v.xy - 0.5 * vec2(dx, dy), v.z, 1.0);
}
