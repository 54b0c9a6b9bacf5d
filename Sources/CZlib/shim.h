/* emud: zlib (Debian zlib1g-dev), for gzip-compressed kernel images. SPDX-License-Identifier: GPL-2.0-or-later */
#include <zlib.h>
