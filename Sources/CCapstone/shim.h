#include <capstone/capstone.h>
