/* The n-body simulation of the benchmarks game (5 bodies, double precision). SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GUEST_NBODY_H
#define GUEST_NBODY_H

struct body { double x, y, z, vx, vy, vz, mass; };

#define NBODY_BODIES 5

/* The Sun and the four outer planets, with the Sun's velocity offset so the total momentum is zero. */
void nbody_init(struct body *b);
/* One step of dt. */
void nbody_advance(struct body *b, double dt);
double nbody_energy(const struct body *b);

#endif
