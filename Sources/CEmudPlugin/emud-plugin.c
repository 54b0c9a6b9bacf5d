/* The plugin header is the product of this target; this file only gives the C target a translation unit. */
#include "emud-plugin.h"
