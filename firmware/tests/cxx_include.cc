/* SPDX-License-Identifier: MIT */
// The headers compile as C++ and link as C (Arduino sketches, C++ ESP-IDF and Zephyr apps).
#include "dh_device.h"
#include "dh_sha256.h"

static_assert(sizeof(dh_device) > DH_MAX_LINE_LEN, "the line buffer is in the struct");

int cxx_sees_the_c_api(void);
int cxx_sees_the_c_api(void)
{
    return dh_crc16(reinterpret_cast<const uint8_t *>("123456789"), 9) == 0x29B1u ? 0 : 1;
}
