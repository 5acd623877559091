// Coordinate helpers shared by the warp passes.

// Mirrored repeat (like GL_MIRRORED_REPEAT): a warp that looks past an edge sees the
// image reflected there instead of the edge texel smeared outward.
vec2 mirror_uv(vec2 p) {
    return 1.0 - abs(mod(p, 2.0) - 1.0);
}

// Output uv -> content uv for a frame scaled about the centre (see fit_scale in passes.py).
// Inside [0, 1] the mirror changes nothing ('cover', 'stretch'); past it ('tile') the frame
// repeats reflected, so every seam meets its own mirror image.
vec2 content_uv(vec2 p, vec2 scale) {
    return mirror_uv(0.5 + (p - 0.5) * scale);
}

// uv -> a frame centred on `centre` whose units are image heights (x scaled by aspect),
// so rotations and radii are round on a non-square target.
vec2 to_height_units(vec2 p, vec2 centre, float aspect) {
    return (p - centre) * vec2(aspect, 1.0);
}

vec2 from_height_units(vec2 q, vec2 centre, float aspect) {
    return centre + q / vec2(aspect, 1.0);
}

// Counter-clockwise rotation of q by `angle` radians.
vec2 rotate2(vec2 q, float angle) {
    float c = cos(angle);
    float s = sin(angle);
    return vec2(c * q.x - s * q.y, s * q.x + c * q.y);
}
