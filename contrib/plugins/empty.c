/*
 * empty: loads and does nothing. The smallest plugin emud accepts, and the baseline for what merely
 * having a plugin loaded costs. Takes no options.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    if (argc > 0) return sample_reject(id, "empty", argv[0], "none");
    return 0;
}
