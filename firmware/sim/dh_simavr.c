/* SPDX-License-Identifier: MIT */
/*
 * dh_simavr.c - runs the AVR example firmware under simavr (which models the EEPROM, as
 * qemu-system-avr does not), its USART0 on a pseudo-terminal for the real station, its EEPROM
 * kept in a file between runs, and power cut at the k-th EEPROM byte write if asked.
 *
 *   dh-simavr --eeprom FILE [--uart-log FILE] [--cut-at K [--cut-mode before|torn|after]]
 *             [--mcu atmega328p] [--freq 16000000] FIRMWARE.elf
 *
 * - Prints "pty <path>" on stdout (one line, flushed) once the board runs. The runner keeps
 *   the pty's slave side open in raw mode (a USB bridge that is always plugged in), so the
 *   station can open and close it at will.
 * - EEPROM: loaded from FILE if it exists (blank, 0xFF, otherwise) and written back (through
 *   a temporary file and rename) when the run ends: SIGTERM/SIGINT/SIGHUP, the firmware
 *   stopping, or a power cut.
 * - --cut-at K: the K-th EEPROM byte write since power-on (counted when the firmware writes
 *   EECR with EEPE set, the start of a byte write; the runner watches EECR next to simavr's own
 *   EEPROM model, which stores the byte at once)
 *   is the moment the power fails. The emulation stops there and the EEPROM is saved with that
 *   byte as it was before the write (before, the default), erased to 0xFF as an AVR byte write
 *   cut between its erase and its program phase leaves it (torn), or holding its new value
 *   (after). The pty closes with the process, as a board whose USB power is gone.
 *   Exit status 3. The station's next contact sees whatever the EEPROM then holds.
 * - Every run ends with "eeprom-writes N" on stderr (the writes it saw), exit status 0.
 *
 * Nothing of the firmware is changed for the emulator: it is the ELF `make avr-eeprom` builds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <avr_eeprom.h>
#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_io.h>
#include <sim_irq.h>

/* ATmega328P data-space addresses of the EEPROM registers (I/O address + 0x20). */
#define REG_EECR 0x3Fu
#define REG_EEARL 0x41u
#define REG_EEARH 0x42u
#define BIT_EEPE 0x02u

#define EXIT_POWER_CUT 3
#define EXIT_USAGE 2
#define PTY_POLL_EVERY 256u /* instructions between two looks at the pty */
#define INPUT_BUF 4096u
#define MAX_EEPROM 4096u

enum cut_mode { CUT_BEFORE, CUT_TORN, CUT_AFTER };

static volatile sig_atomic_t stop_requested;
static int master_fd = -1;
static FILE *uart_log;
static int uart_xon = 1;
static uint8_t input[INPUT_BUF];
static size_t input_len, input_done;

/* A write to EECR with EEPE set starts an EEPROM byte write; simavr's EEPROM model (also
 * watching EECR) stores the byte during the same instruction. Handled after it. */
static int ee_write_started;

static void on_eecr_write(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)avr;
    (void)addr;
    (void)param;
    if (v & BIT_EEPE) {
        ee_write_started = 1;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "dh-simavr: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void on_uart_output(struct avr_irq_t *irq, uint32_t value, void *param)
{
    uint8_t b = (uint8_t)value;
    (void)irq;
    (void)param;
    /* Nobody reading: the byte is lost, as on a real UART with no listener. */
    if (write(master_fd, &b, 1) < 0 && errno != EAGAIN && errno != EIO) {
        die("write to the pty");
    }
    if (uart_log != NULL) {
        fputc(b, uart_log);
    }
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 1;
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 0;
}

static void pump_input(avr_irq_t *uart_in)
{
    if (input_done == input_len) {
        ssize_t n = read(master_fd, input, sizeof input);
        input_done = 0;
        input_len = n > 0 ? (size_t)n : 0u;
    }
    while (uart_xon && input_done < input_len) {
        avr_raise_irq(uart_in, input[input_done++]);
    }
}

static int open_pty(char *slave_name, size_t cap)
{
    struct termios tio;
    int slave;
    const char *name;
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        die("open a pseudo-terminal");
    }
    name = ptsname(master_fd);
    if (name == NULL || strlen(name) >= cap) {
        die("ptsname");
    }
    strcpy(slave_name, name);
    /* Held open for the runner's life (reads on the master would fail with EIO whenever the
     * station has the port closed), and raw so nothing is echoed back into the UART. */
    slave = open(slave_name, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &tio) != 0) {
        die("open the pty's slave side");
    }
    cfmakeraw(&tio);
    if (tcsetattr(slave, TCSANOW, &tio) != 0) {
        die("make the pty raw");
    }
    if (fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK) != 0) {
        die("make the pty non-blocking");
    }
    return slave;
}

static uint8_t *eeprom_bytes(avr_t *avr, uint32_t *size)
{
    avr_eeprom_desc_t d = {.ee = NULL, .offset = 0, .size = 0};
    avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
    /* With ee NULL, simavr hands back its own buffer; its size is E2END + 1 of the chip. */
    *size = (uint32_t)avr->e2end + 1u;
    return d.ee;
}

static void load_eeprom(avr_t *avr, const char *path)
{
    uint32_t size;
    uint8_t *ee = eeprom_bytes(avr, &size);
    FILE *f = fopen(path, "rb");
    memset(ee, 0xFF, size);
    if (f == NULL) {
        if (errno != ENOENT) {
            die(path);
        }
        return;
    }
    if (fread(ee, 1, size, f) != size && ferror(f)) {
        die(path);
    }
    fclose(f);
}

static void save_eeprom(avr_t *avr, const char *path)
{
    uint32_t size;
    uint8_t *ee = eeprom_bytes(avr, &size);
    char tmp[4096];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (f == NULL || fwrite(ee, 1, size, f) != size || fflush(f) != 0 || fsync(fileno(f)) != 0 ||
        fclose(f) != 0 || rename(tmp, path) != 0) {
        die(tmp);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: dh-simavr --eeprom FILE [--uart-log FILE] [--cut-at K "
                    "[--cut-mode before|torn|after]] [--mcu NAME] [--freq HZ] FIRMWARE.elf\n");
    exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
    const char *eeprom_path = NULL, *log_path = NULL, *elf_path = NULL;
    const char *mcu = "atmega328p";
    unsigned long freq = 16000000UL, cut_at = 0, writes = 0;
    enum cut_mode mode = CUT_BEFORE;
    char slave_name[128];
    elf_firmware_t fw;
    avr_t *avr;
    avr_irq_t *uart_in;
    uint32_t flags = 0, ee_size;
    uint8_t shadow[MAX_EEPROM];
    unsigned steps = 0;
    int i, state, slave;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--eeprom") == 0 && v) {
            eeprom_path = v;
        } else if (strcmp(a, "--uart-log") == 0 && v) {
            log_path = v;
        } else if (strcmp(a, "--cut-at") == 0 && v) {
            cut_at = strtoul(v, NULL, 10);
            if (cut_at == 0) {
                usage();
            }
        } else if (strcmp(a, "--cut-mode") == 0 && v) {
            if (strcmp(v, "before") == 0) {
                mode = CUT_BEFORE;
            } else if (strcmp(v, "torn") == 0) {
                mode = CUT_TORN;
            } else if (strcmp(v, "after") == 0) {
                mode = CUT_AFTER;
            } else {
                usage();
            }
        } else if (strcmp(a, "--mcu") == 0 && v) {
            mcu = v;
        } else if (strcmp(a, "--freq") == 0 && v) {
            freq = strtoul(v, NULL, 10);
        } else if (a[0] != '-' && elf_path == NULL) {
            elf_path = a;
            continue;
        } else {
            usage();
        }
        i++;
    }
    if (eeprom_path == NULL || elf_path == NULL) {
        usage();
    }

    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf_path, &fw) != 0) {
        fprintf(stderr, "dh-simavr: cannot read %s\n", elf_path);
        return 1;
    }
    snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
    fw.frequency = (uint32_t)freq;
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (avr == NULL) {
        fprintf(stderr, "dh-simavr: simavr has no MCU %s\n", mcu);
        return 1;
    }
    avr_init(avr);
    avr->log = LOG_ERROR;
    avr_load_firmware(avr, &fw);
    if ((uint32_t)avr->e2end + 1u > MAX_EEPROM) {
        fprintf(stderr, "dh-simavr: EEPROM larger than %u bytes\n", MAX_EEPROM);
        return 1;
    }
    load_eeprom(avr, eeprom_path);
    memcpy(shadow, eeprom_bytes(avr, &ee_size), ee_size);

    if (log_path != NULL && (uart_log = fopen(log_path, "ab")) == NULL) {
        die(log_path);
    }
    if (uart_log != NULL) {
        setvbuf(uart_log, NULL, _IOLBF, 0);
    }
    slave = open_pty(slave_name, sizeof slave_name);

    /* UART0: no console echo and no sleeping in the firmware's status polls (the runner
     * runs the core flat out; the station's timeouts are wall-clock). */
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            on_uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            on_xoff, NULL);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("pty %s\n", slave_name);
    fflush(stdout);

    avr_register_io_write(avr, REG_EECR, on_eecr_write, NULL);
    for (;;) {
        state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            break;
        }
        if (ee_write_started) {
            /* simavr has already stored the byte; the shadow still holds what was there. */
            uint16_t addr =
                (uint16_t)(avr->data[REG_EEARL] | (uint16_t)(avr->data[REG_EEARH] << 8)) &
                (uint16_t)avr->e2end;
            uint8_t *ee = eeprom_bytes(avr, &ee_size);
            ee_write_started = 0;
            writes++;
            if (cut_at != 0 && writes == cut_at) {
                static const char *const names[] = {"before", "torn", "after"};
                uint8_t was = shadow[addr], now = ee[addr];
                ee[addr] = mode == CUT_BEFORE ? was : mode == CUT_TORN ? 0xFFu : now;
                save_eeprom(avr, eeprom_path);
                fprintf(stderr,
                        "dh-simavr: power cut at EEPROM write %lu (address 0x%03x, 0x%02x -> "
                        "0x%02x, left %s: 0x%02x)\n",
                        writes, addr, was, now, names[mode], ee[addr]);
                return EXIT_POWER_CUT;
            }
            shadow[addr] = ee[addr];
        }
        if (++steps % PTY_POLL_EVERY == 0u) {
            if (stop_requested) {
                break;
            }
            pump_input(uart_in);
        }
    }
    save_eeprom(avr, eeprom_path);
    fprintf(stderr, "eeprom-writes %lu\n", writes);
    close(slave);
    return 0;
}
