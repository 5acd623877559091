// Colour helpers for the grade pass. Formulas are mirrored in tests/test_render_passes.py.

const vec3 LUMA_WEIGHTS = vec3(0.2126, 0.7152, 0.0722);  // Rec. 709

float luma(vec3 c) {
    return dot(c, LUMA_WEIGHTS);
}

// Rotate colour c about the grey axis (1,1,1)/sqrt(3) by `turns` full turns
// (Rodrigues' rotation formula): keeps greys grey and rotates hue.
vec3 rotate_hue(vec3 c, float turns) {
    const vec3 k = vec3(0.57735026919);
    float angle = 6.28318530718 * turns;
    float cs = cos(angle);
    float sn = sin(angle);
    return c * cs + cross(k, c) * sn + k * dot(k, c) * (1.0 - cs);
}
