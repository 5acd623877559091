// 3D gradient noise with its analytic gradient, and the curl of it in 2D.
// The lattice repeats every NOISE_Z_PERIOD cells along z, so the time coordinate can wrap
// there without a jump (a show may run for weeks; float time would lose precision).

const int NOISE_Z_PERIOD = 256;  // keep equal to NOISE_Z_PERIOD in installation/render/passes.py

// Integer hash (pcg3d, Jarzynski & Olano 2020): 3 x 32 bits from a lattice point.
uvec3 pcg3d(uvec3 v) {
    v = v * 1664525u + 1013904223u;
    v.x += v.y * v.z;
    v.y += v.z * v.x;
    v.z += v.x * v.y;
    v ^= v >> 16u;
    v.x += v.y * v.z;
    v.y += v.z * v.x;
    v.z += v.x * v.y;
    return v;
}

// Pseudo-random gradient in [-1, 1]^3 at lattice point `cell`.
vec3 lattice_gradient(ivec3 cell) {
    cell.z = cell.z & (NOISE_Z_PERIOD - 1);
    return vec3(pcg3d(uvec3(cell))) * (2.0 / 4294967295.0) - 1.0;
}

// Gradient noise at p: returns vec4(value, d/dx, d/dy, d/dz). Quintic interpolation,
// so the gradient is continuous and the curl field is smooth across cell borders.
vec4 gradient_noise_d(vec3 p) {
    ivec3 i = ivec3(floor(p));
    vec3 f = fract(p);
    vec3 u = f * f * f * (f * (f * 6.0 - 15.0) + 10.0);
    vec3 du = 30.0 * f * f * (f * (f - 2.0) + 1.0);

    // Corners: a=000 b=100 c=010 d=110 e=001 f=101 g=011 h=111.
    vec3 ga = lattice_gradient(i + ivec3(0, 0, 0));
    vec3 gb = lattice_gradient(i + ivec3(1, 0, 0));
    vec3 gc = lattice_gradient(i + ivec3(0, 1, 0));
    vec3 gd = lattice_gradient(i + ivec3(1, 1, 0));
    vec3 ge = lattice_gradient(i + ivec3(0, 0, 1));
    vec3 gf = lattice_gradient(i + ivec3(1, 0, 1));
    vec3 gg = lattice_gradient(i + ivec3(0, 1, 1));
    vec3 gh = lattice_gradient(i + ivec3(1, 1, 1));

    float va = dot(ga, f - vec3(0.0, 0.0, 0.0));
    float vb = dot(gb, f - vec3(1.0, 0.0, 0.0));
    float vc = dot(gc, f - vec3(0.0, 1.0, 0.0));
    float vd = dot(gd, f - vec3(1.0, 1.0, 0.0));
    float ve = dot(ge, f - vec3(0.0, 0.0, 1.0));
    float vf = dot(gf, f - vec3(1.0, 0.0, 1.0));
    float vg = dot(gg, f - vec3(0.0, 1.0, 1.0));
    float vh = dot(gh, f - vec3(1.0, 1.0, 1.0));

    // Trilinear blend written as a polynomial in u; k_xy etc. are the mixed terms.
    float k_xy = va - vb - vc + vd;
    float k_yz = va - vc - ve + vg;
    float k_zx = va - vb - ve + vf;
    float k_xyz = -va + vb + vc - vd + ve - vf - vg + vh;

    float value = va + u.x * (vb - va) + u.y * (vc - va) + u.z * (ve - va)
                + u.x * u.y * k_xy + u.y * u.z * k_yz + u.z * u.x * k_zx
                + u.x * u.y * u.z * k_xyz;

    vec3 gradient = ga + u.x * (gb - ga) + u.y * (gc - ga) + u.z * (ge - ga)
                  + u.x * u.y * (ga - gb - gc + gd) + u.y * u.z * (ga - gc - ge + gg)
                  + u.z * u.x * (ga - gb - ge + gf)
                  + u.x * u.y * u.z * (-ga + gb + gc - gd + ge - gf - gg + gh)
                  + du * (vec3(vb - va, vc - va, ve - va)
                          + u.yzx * vec3(k_xy, k_yz, k_zx)
                          + u.zxy * vec3(k_zx, k_xy, k_yz)
                          + u.yzx * u.zxy * k_xyz);
    return vec4(value, gradient);
}

// Divergence-free 2D velocity: the curl of the scalar potential psi(x, y, z),
// v = (d psi / dy, -d psi / dx). Units: potential units per noise cell.
vec2 curl_noise(vec2 p, float z) {
    vec4 n = gradient_noise_d(vec3(p, z));
    return vec2(n.z, -n.y);
}
