/* emud plugin API. SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef EMUD_PLUGIN_H
#define EMUD_PLUGIN_H
#define EMUD_PLUGIN_API_VERSION 0
#endif
