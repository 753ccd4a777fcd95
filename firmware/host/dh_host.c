/* SPDX-License-Identifier: MIT */
/*
 * dh_host.c - the C module on a Linux host, as a device on a pseudo-terminal.
 *
 * The same library a microcontroller links, with a host port: the UART is the master side of
 * a pty (the station opens the slave, as it would /dev/ttyUSB0), the storage is a blob file
 * replaced atomically (temp file, fsync, rename, fsync of the directory) exactly in the
 * format and place station-devsim uses, so tests read it with StoredConfig::from_blob. Like
 * station-devsim, it prints the port path as the first line of stdout, and it can lose power
 * around COMMIT so tests can prove an interrupted commit keeps the old credentials.
 *
 * --stdio runs the device on stdin/stdout instead: the differential test feeds the Rust model
 * and this module the same bytes and compares the answers byte for byte.
 *
 * --baud-rates 921600,460800,230400 makes it a protocol 1.1 device with the faster wire
 * (spec 10.1): HELLO lists BAUD and the port's rate switch drains the pty, then records the
 * new rate (a pty carries bytes at any rate, so nothing is paced) and says so on stderr; the
 * idle revert to 115200 runs on the monotonic clock. Without it the device is a 1.0 one.
 *
 * It answers PROVE (spec 10.3) and lists it in HELLO, as station-devsim does; --no-prove makes
 * it a unit without the possession proof (PROVE is then an unknown command).
 *
 * --gate adds the write gate (spec 10.3): once it holds a config it refuses a new write with
 * LOCKED, unless --write-allowed stands for the factory-mode jumper being set. Built with
 * -DDH_RX_FRAME_LEN=64 (make's dh-host-frame64) it lists FRAME64 (spec 10.2).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dh_device.h"
#include "dh_sha256.h"

#define DEFAULT_FIRMWARE_VERSION "dh-c-host-" DH_LIB_VERSION

/* Exit codes, as station-devsim's SimExit::exit_code where they overlap. */
#define EXIT_STOPPED 0
#define EXIT_USAGE 2
#define EXIT_POWER_LOSS_BEFORE_COMMIT 11
#define EXIT_POWER_LOSS_AFTER_COMMIT 12
#define EXIT_POWER_LOSS_DURING_COMMIT 13

/* How long one poll of the pty waits: bounds how fast a stop is noticed. */
#define POLL_MS 20
/* Pause while no one holds the port open (the master reports a hang-up at once then). */
#define IDLE_US 10000
/* How long a reply may wait for a full pty buffer to drain before it is dropped. */
#define WRITE_WAIT_MS 500

enum power_loss { PL_NONE, PL_BEFORE_COMMIT, PL_DURING_COMMIT, PL_AFTER_COMMIT };

struct host_port {
    int in_fd;
    int out_fd;
    int connected;
    FILE *tee; /* --log: every byte sent to the station */
    uint8_t out[256];
    size_t out_len;
    const char *flash_path;
    enum power_loss power_loss;
    uint8_t hwid[DH_MAX_HWID_BYTES];
    uint8_t hwid_len;
    uint32_t rate; /* the UART's rate as the device sees it (spec 10.1) */
    int write_allowed; /* --write-allowed: the factory-mode jumper is set (spec 10.3) */
    uint16_t stored_len;
    uint8_t stored[DH_MAX_BLOB_LEN];
    uint8_t scratch[DH_MAX_BLOB_LEN];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- UART ------------------------------------------------------------------------------ */

static void flush_out(struct host_port *p)
{
    size_t done = 0;
    int waited = 0;
    while (done < p->out_len) {
        ssize_t n = write(p->out_fd, p->out + done, p->out_len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN && p->connected && waited < WRITE_WAIT_MS) {
            struct pollfd w = {p->out_fd, POLLOUT, 0};
            (void)poll(&w, 1, 10);
            waited += 10;
            continue;
        }
        /* No one has the port open (or it is stuck): output is lost, as on a real bridge. */
        break;
    }
    if (p->tee != NULL) {
        (void)fwrite(p->out, 1, p->out_len, p->tee);
        (void)fflush(p->tee);
    }
    p->out_len = 0;
}

int dh_port_read_byte(void *port)
{
    (void)port;
    return -1; /* bytes are pushed with dh_feed() as they arrive */
}

void dh_port_write_byte(void *port, uint8_t byte)
{
    struct host_port *p = port;
    p->out[p->out_len++] = byte;
    if (byte == '\n' || p->out_len == sizeof p->out) {
        flush_out(p);
    }
}

uint8_t dh_port_hardware_id(void *port, uint8_t id[DH_MAX_HWID_BYTES])
{
    struct host_port *p = port;
    memcpy(id, p->hwid, p->hwid_len);
    return p->hwid_len;
}

/* ---- The optional rate switch (spec 10.1) ---------------------------------------------- */

static uint32_t baud_rates[DH_MAX_BAUD_RATES];

/* Every reply byte is out before the rate changes: the pty has taken them all. */
static void host_set_rate(void *port, uint32_t rate)
{
    struct host_port *p = port;
    flush_out(p);
    if (rate != p->rate) {
        fprintf(stderr, "dh-host: UART now at %lu baud\n", (unsigned long)rate);
    }
    p->rate = rate;
}

static uint32_t host_millis(void *port)
{
    struct timespec t;
    (void)port;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) {
        return 0;
    }
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

static struct dh_baud_port host_baud = {host_set_rate, host_millis, baud_rates, 0};

/* "921600,460800": 1..DH_MAX_BAUD_RATES rates, each 1..4000000. */
static int parse_baud_rates(const char *list)
{
    const char *s = list;
    uint8_t n = 0;
    while (*s != '\0') {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0u || v > 4000000UL || n == DH_MAX_BAUD_RATES ||
            (*end != ',' && *end != '\0') || *s == '-' || *s == '+' || *s == ' ') {
            return -1;
        }
        baud_rates[n++] = (uint32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    host_baud.rate_count = n;
    return n > 0u ? 0 : -1;
}

/* The application's physical-presence signal for the write gate (spec 10.3). */
static int host_write_allowed(void *port) { return ((struct host_port *)port)->write_allowed; }

/* ---- Storage --------------------------------------------------------------------------- */

uint16_t dh_port_stored_len(void *port) { return ((struct host_port *)port)->stored_len; }

int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct host_port *p = port;
    if ((size_t)offset + len > p->stored_len || (size_t)offset + len > sizeof p->stored) {
        return -1;
    }
    memcpy(buf, p->stored + offset, len);
    return 0;
}

int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    struct host_port *p = port;
    if ((size_t)offset + len > sizeof p->scratch) {
        return -1;
    }
    memcpy(p->scratch + offset, buf, len);
    return 0;
}

int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct host_port *p = port;
    if ((size_t)offset + len > sizeof p->scratch) {
        return -1;
    }
    memcpy(buf, p->scratch + offset, len);
    return 0;
}

static int write_all_fd(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0u) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Replaces the blob file so that a crash at any moment leaves the old or the new one. With
 * --power-loss during-commit the process dies halfway through writing the new one. */
static int store_file(struct host_port *p, const uint8_t *blob, uint16_t len)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    char *slash;
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", p->flash_path) >= (int)sizeof tmp ||
        snprintf(dir, sizeof dir, "%s", p->flash_path) >= (int)sizeof dir) {
        return -1;
    }
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return -1;
    }
    if (p->power_loss == PL_DURING_COMMIT) {
        (void)write_all_fd(fd, blob, len / 2u);
        (void)fsync(fd);
        fprintf(stderr, "dh-host: power lost while writing the new config (torn write)\n");
        _exit(EXIT_POWER_LOSS_DURING_COMMIT);
    }
    rc = write_all_fd(fd, blob, len);
    if (rc == 0) {
        rc = fsync(fd);
    }
    if (close(fd) != 0) {
        rc = -1;
    }
    if (rc == 0) {
        rc = rename(tmp, p->flash_path);
    }
    if (rc == 0) {
        /* The rename itself is durable only once the directory is synced. */
        int dfd = open(dir, O_RDONLY);
        rc = dfd < 0 ? -1 : fsync(dfd);
        if (dfd >= 0) {
            (void)close(dfd);
        }
    }
    return rc;
}

int dh_port_commit(void *port, uint16_t len)
{
    struct host_port *p = port;
    if (len > sizeof p->stored) {
        return DH_STORE_FULL;
    }
    if (p->power_loss == PL_BEFORE_COMMIT) {
        fprintf(stderr, "dh-host: power lost before storing the new config\n");
        _exit(EXIT_POWER_LOSS_BEFORE_COMMIT);
    }
    if (p->flash_path != NULL && store_file(p, p->scratch, len) != 0) {
        return DH_STORE_FAILED;
    }
    memcpy(p->stored, p->scratch, len);
    p->stored_len = len;
    if (p->power_loss == PL_AFTER_COMMIT) {
        fprintf(stderr, "dh-host: power lost after storing the new config\n");
        _exit(EXIT_POWER_LOSS_AFTER_COMMIT);
    }
    return DH_STORE_OK;
}

static void load_file(struct host_port *p)
{
    FILE *f = fopen(p->flash_path, "rb");
    size_t n;
    long size;
    if (f == NULL) {
        return; /* no file yet: an unprovisioned unit */
    }
    n = fread(p->stored, 1, sizeof p->stored, f);
    /* A blob larger than any config is reported at its size; the library refuses it. */
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > (long)n) {
        n = size > 0xFFFF ? 0xFFFFu : (size_t)size;
    }
    (void)fclose(f);
    p->stored_len = (uint16_t)n;
}

/* ---- Identity -------------------------------------------------------------------------- */

/* A chip id that stays the same for the same flash file (a restarted process is the same
 * unit), as station-devsim does; without a flash file every run is a different unit. */
static void default_hardware_id(struct host_port *p)
{
    char seed[PATH_MAX + 64];
    uint8_t digest[32];
    dh_sha256 sha;
    int n;
    if (p->flash_path != NULL) {
        char abs[PATH_MAX];
        if (realpath(p->flash_path, abs) != NULL) {
            n = snprintf(seed, sizeof seed, "%s", abs);
        } else {
            char cwd[PATH_MAX];
            n = p->flash_path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL
                    ? snprintf(seed, sizeof seed, "%s", p->flash_path)
                    : snprintf(seed, sizeof seed, "%s/%s", cwd, p->flash_path);
        }
    } else {
        n = snprintf(seed, sizeof seed, "%ld-%ld-%d", (long)time(NULL), (long)clock(),
                     (int)getpid());
    }
    if (n < 0) {
        n = 0;
    }
    dh_sha256_init(&sha);
    dh_sha256_update(&sha, (const uint8_t *)seed, strlen(seed));
    dh_sha256_final(&sha, digest);
    memcpy(p->hwid, digest, 8);
    p->hwid_len = 8;
}

static int parse_hardware_id(struct host_port *p, const char *hex)
{
    size_t n = strlen(hex), i;
    if (n < 2u || n > 2u * DH_MAX_HWID_BYTES || (n & 1u) != 0u) {
        return -1;
    }
    for (i = 0; i < n; i += 2u) {
        char pair[3] = {hex[i], hex[i + 1u], '\0'};
        char *end;
        long v = strtol(pair, &end, 16);
        if (*end != '\0' || pair[0] == '-' || pair[0] == '+' || pair[0] == ' ') {
            return -1;
        }
        p->hwid[i / 2u] = (uint8_t)v;
    }
    p->hwid_len = (uint8_t)(n / 2u);
    return 0;
}

/* ---- The pseudo-terminal --------------------------------------------------------------- */

static int open_pty(char *name, size_t name_len)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    int slave;
    struct termios t;
    const char *path;
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        return -1;
    }
    path = ptsname(master);
    if (path == NULL || strlen(path) >= name_len) {
        return -1;
    }
    strcpy(name, path);
    /* Raw mode, set once on the slave: the station's port must not echo or translate. The
     * setting stays with the pty while the master is open. */
    slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &t) != 0) {
        return -1;
    }
    cfmakeraw(&t);
    if (tcsetattr(slave, TCSANOW, &t) != 0) {
        return -1;
    }
    (void)close(slave);
    if (fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) != 0) {
        return -1;
    }
    return master;
}

/* What a bootloader and an SDK print on a board that resets when the port opens: binary
 * junk, text with '@' and '*', even "@DH1" in a line that is not a frame. */
static void boot_noise(struct host_port *p, dh_device *dev)
{
    static const char *const lines[] = {
        "\r\n\x01\xff\xfe", "ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n",
        "[boot] @DH1 is the provisioning marker; this line is not a frame *0000\r\n",
        "[boot] mail: ops@devicehub.example *not configured*\r\n"};
    size_t i;
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *s = lines[i];
        while (*s != '\0') {
            dh_port_write_byte(p, (uint8_t)*s++);
        }
    }
    flush_out(p);
    dh_log(dev, dh_provisioned(dev) ? "DeviceHub C device ready (provisioned)"
                                    : "DeviceHub C device ready (unprovisioned)");
    flush_out(p);
}

static int run_pty(struct host_port *p, dh_device *dev, int with_boot_noise)
{
    uint8_t buf[512];
    while (!stop_requested) {
        struct pollfd pf = {p->in_fd, POLLIN, 0};
        int r = poll(&pf, 1, POLL_MS);
        dh_tick(dev); /* the idle revert (spec 10.1): late by at most POLL_MS */
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 1;
        }
        if (pf.revents & POLLHUP) {
            /* No one holds the slave open: the station closed the port. It may reopen it. */
            p->connected = 0;
            (void)usleep(IDLE_US);
            continue;
        }
        if (!p->connected) {
            p->connected = 1;
            if (with_boot_noise) {
                boot_noise(p, dev);
            }
        }
        if (pf.revents & POLLIN) {
            ssize_t n = read(p->in_fd, buf, sizeof buf);
            ssize_t i;
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                    p->connected = 0;
                    (void)usleep(IDLE_US);
                }
                continue;
            }
            for (i = 0; i < n; i++) {
                dh_feed(dev, buf[i]);
            }
            flush_out(p);
        }
    }
    return EXIT_STOPPED;
}

static int run_stdio(struct host_port *p, dh_device *dev)
{
    uint8_t buf[512];
    for (;;) {
        ssize_t n = read(p->in_fd, buf, sizeof buf), i;
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        for (i = 0; i < n; i++) {
            dh_feed(dev, buf[i]);
        }
    }
    flush_out(p);
    return EXIT_STOPPED;
}

static int serve_pty(struct host_port *p, dh_device *dev, const char *fw, int noise,
                     const char *pty_name)
{
    /* First line of stdout is the port path, and nothing else: scripts read it. */
    printf("%s\n", pty_name);
    fflush(stdout);
    fprintf(stderr, "dh-host: firmware %s, %s, flash %s\n", fw,
            dh_provisioned(dev) ? "provisioned" : "unprovisioned",
            p->flash_path != NULL ? p->flash_path : "in memory");
    /* Anything printed at init goes out at once; like a real UART, no one may be listening. */
    flush_out(p);
    return run_pty(p, dev, noise);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: dh-host [--flash FILE] [--hardware-id HEX] [--firmware-version V]\n"
            "               [--power-loss before-commit|during-commit|after-commit]\n"
            "               [--boot-noise] [--debug-prints] [--log FILE] [--capacity BYTES]\n"
            "               [--baud-rates RATE,RATE...] [--no-prove]\n"
            "               [--gate [--write-allowed]] [--stdio]\n"
            "Runs the DeviceHub C device module on a new pseudo-terminal and prints its path\n"
            "as the first line of stdout (or, with --stdio, on stdin/stdout).\n");
}

struct options {
    const char *fw;
    const char *hwid;
    const char *log_path;
    int stdio_mode, noise, debug, no_prove, gate;
    long capacity;
};

/* The command line into `o` and the port; -1 after printing what is wrong. */
static int parse_args(int argc, char **argv, struct options *o, struct host_port *p)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--stdio") == 0) {
            o->stdio_mode = 1;
        } else if (strcmp(a, "--boot-noise") == 0) {
            o->noise = 1;
        } else if (strcmp(a, "--debug-prints") == 0) {
            o->debug = 1;
        } else if (strcmp(a, "--no-prove") == 0) {
            o->no_prove = 1;
        } else if (strcmp(a, "--gate") == 0) {
            o->gate = 1;
        } else if (strcmp(a, "--write-allowed") == 0) {
            p->write_allowed = 1;
        } else if (v != NULL && strcmp(a, "--flash") == 0) {
            p->flash_path = v;
            i++;
        } else if (v != NULL && strcmp(a, "--hardware-id") == 0) {
            o->hwid = v;
            i++;
        } else if (v != NULL && strcmp(a, "--firmware-version") == 0) {
            o->fw = v;
            i++;
        } else if (v != NULL && strcmp(a, "--log") == 0) {
            o->log_path = v;
            i++;
        } else if (v != NULL && strcmp(a, "--baud-rates") == 0) {
            if (parse_baud_rates(v) != 0) {
                fprintf(stderr, "dh-host: --baud-rates takes 1..%u rates, comma separated\n",
                        (unsigned)DH_MAX_BAUD_RATES);
                return -1;
            }
            i++;
        } else if (v != NULL && strcmp(a, "--capacity") == 0) {
            o->capacity = strtol(v, NULL, 10);
            i++;
        } else if (v != NULL && strcmp(a, "--power-loss") == 0) {
            p->power_loss = strcmp(v, "before-commit") == 0   ? PL_BEFORE_COMMIT
                              : strcmp(v, "during-commit") == 0 ? PL_DURING_COMMIT
                              : strcmp(v, "after-commit") == 0  ? PL_AFTER_COMMIT
                                                                : PL_NONE;
            if (p->power_loss == PL_NONE) {
                usage();
                return -1;
            }
            i++;
        } else {
            usage();
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct host_port port;
    static dh_device dev;
    struct options o = {DEFAULT_FIRMWARE_VERSION, NULL, NULL, 0, 0, 0, 0, 0, DH_MAX_BLOB_LEN};
    int rc;
    char pty_name[128];

    if (parse_args(argc, argv, &o, &port) != 0) {
        return EXIT_USAGE;
    }
    if (o.capacity < 1 || o.capacity > (long)DH_MAX_BLOB_LEN) {
        fprintf(stderr, "dh-host: --capacity must be 1..%u\n", (unsigned)DH_MAX_BLOB_LEN);
        return EXIT_USAGE;
    }
    if (o.hwid != NULL ? parse_hardware_id(&port, o.hwid) != 0 : (default_hardware_id(&port), 0)) {
        fprintf(stderr, "dh-host: --hardware-id must be 2..32 hex digits, an even count\n");
        return EXIT_USAGE;
    }
    if (o.log_path != NULL && (port.tee = fopen(o.log_path, "ab")) == NULL) {
        fprintf(stderr, "dh-host: cannot open %s: %s\n", o.log_path, strerror(errno));
        return 1;
    }
    if (port.flash_path != NULL) {
        load_file(&port);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    if (o.stdio_mode) {
        port.in_fd = 0;
        port.out_fd = 1;
        port.connected = 1;
    } else {
        int master = open_pty(pty_name, sizeof pty_name);
        if (master < 0) {
            fprintf(stderr, "dh-host: cannot create a pseudo-terminal: %s\n", strerror(errno));
            return 1;
        }
        port.in_fd = master;
        port.out_fd = master;
    }
    rc = dh_init(&dev, &port, o.fw, (uint16_t)o.capacity);
    if (rc != DH_INIT_OK) {
        fprintf(stderr, "dh-host: cannot start the device (dh_init error %d)\n", rc);
        return EXIT_USAGE;
    }
    dh_set_debug(&dev, o.debug);
    if (!o.no_prove) {
        dh_enable_prove(&dev);
    }
    if (o.gate) {
        dh_enable_gate(&dev, host_write_allowed);
    } else if (port.write_allowed) {
        fprintf(stderr, "dh-host: --write-allowed needs --gate\n");
        return EXIT_USAGE;
    }
    port.rate = DH_BAUD_DEFAULT;
    if (host_baud.rate_count > 0u && dh_enable_baud(&dev, &host_baud) != DH_INIT_OK) {
        fprintf(stderr, "dh-host: cannot enable the rate switch\n");
        return EXIT_USAGE;
    }
    if (o.stdio_mode) {
        rc = run_stdio(&port, &dev);
    } else {
        rc = serve_pty(&port, &dev, o.fw, o.noise, pty_name);
    }
    if (port.tee != NULL) {
        (void)fclose(port.tee);
    }
    return rc;
}
