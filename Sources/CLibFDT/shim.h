/* emud: libfdt (Debian libfdt-dev), the flattened device tree library QEMU uses. SPDX-License-Identifier: GPL-2.0-or-later */
#include <libfdt.h>
