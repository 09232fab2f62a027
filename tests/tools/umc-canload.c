/* SPDX-License-Identifier: MIT */
/*
 * umc-canload: the bus load of one CAN interface as umc_canbus measures it,
 * one line per 1 s window, for a side-by-side comparison with can-utils
 * canbusload on the same traffic (tests/integration/test-canload.sh).
 *
 *   umc-canload [-i|-e|-w] [-m canbusload|iso] [-t SECONDS] [-c ID[:PERIOD_MS],...]
 *               [-o TXID:RXID] IF@BITRATE[,DBITRATE]
 *
 * -i ignores bit stuffing, -e counts it exactly, -w (default) takes the
 * worst case, as canbusload's -i, -e and default. -m picks the bit model
 * (default canbusload). -t stops after that many windows (default: run
 * until SIGINT or SIGTERM). -c checks IDs against a whitelist with nominal
 * periods (+-10 %) and adds each window's verdict to its line. -o
 * registers an own ISO-TP channel (IDs as in -c, both of one format) whose
 * bits and frames are shown apart ("own").
 *
 * Output, on stdout:
 *   load 14.53% frames 552 bits 72651 own 0 ownframes 0 dropped 0 [verdict OK|CAN_ID_UNKNOWN id 555|...]
 *   mean load 14.50% windows 10 frames 5520 dropped 0
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/canbus.h"
#include "umc/util.h"

#define RULES_MAX 64
#define TOLERANCE_PCT 10.0
#define POLL_MSEC 50 /* wake-ups to close windows when the bus is quiet */

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

struct opts {
        struct umc_canbus_params p;
        char ifname[IF_NAMESIZE];
        unsigned seconds;
        struct umc_canid_rule rules[RULES_MAX];
        size_t n_rules;
        bool check;
        struct umc_canid_rule own_tx, own_rx;
        bool own;
};

static int usage(void) {
        fprintf(stderr, "usage: umc-canload [-i|-e|-w] [-m canbusload|iso] [-t SECONDS] "
                        "[-c ID[:PERIOD_MS],...] [-o TXID:RXID] IF@BITRATE[,DBITRATE]\n");
        return 2;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "vcan0@500000" or "vcan0@500000,2000000". */
static int parse_target(char *arg, struct opts *o) {
        char *at = strchr(arg, '@'), *comma;

        if (!at || (size_t)(at - arg) >= sizeof(o->ifname) || at == arg)
                return -EINVAL;
        memcpy(o->ifname, arg, (size_t)(at - arg));
        o->ifname[at - arg] = '\0';
        comma = strchr(at + 1, ',');
        if (comma) {
                *comma = '\0';
                if (parse_u64(comma + 1, &o->p.nominal_data_bitrate) < 0)
                        return -EINVAL;
        }
        return parse_u64(at + 1, &o->p.nominal_bitrate);
}

static int parse_rules(char *list, struct opts *o) {
        char why[UMC_WHY_MAX] = "";

        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (o->n_rules == RULES_MAX) {
                        fprintf(stderr, "umc-canload: more than %d IDs\n", RULES_MAX);
                        return -E2BIG;
                }
                if (umc_canid_rule_parse(tok, TOLERANCE_PCT, &o->rules[o->n_rules], why,
                                         sizeof(why)) < 0) {
                        fprintf(stderr, "umc-canload: bad ID '%s': %s\n", tok, why);
                        return -EINVAL;
                }
                o->n_rules++;
        }
        o->check = true;
        return 0;
}

/* "7E0:7E8": two IDs of one format. */
static int parse_own(char *arg, struct opts *o) {
        char *colon = strchr(arg, ':');

        if (!colon)
                return -EINVAL;
        *colon = '\0';
        if (umc_canid_rule_parse(arg, TOLERANCE_PCT, &o->own_tx, NULL, 0) < 0 ||
            umc_canid_rule_parse(colon + 1, TOLERANCE_PCT, &o->own_rx, NULL, 0) < 0 ||
            o->own_tx.eff != o->own_rx.eff)
                return -EINVAL;
        o->own = true;
        return 0;
}

static int parse_args(int argc, char **argv, struct opts *o) {
        uint64_t v;
        int c;

        o->p.stuffing = UMC_STUFF_WORST;
        o->p.model = UMC_BITMODEL_CANBUSLOAD;
        o->p.min_periods = UMC_CANMON_MIN_PERIODS_DEFAULT;
        umc_load_cfg_default(&o->p.load);
        while ((c = getopt(argc, argv, "iewm:t:c:o:")) != -1) {
                switch (c) {
                case 'i':
                        o->p.stuffing = UMC_STUFF_IGNORE;
                        break;
                case 'e':
                        o->p.stuffing = UMC_STUFF_EXACT;
                        break;
                case 'w':
                        o->p.stuffing = UMC_STUFF_WORST;
                        break;
                case 'm':
                        if (strcmp(optarg, "canbusload") == 0)
                                o->p.model = UMC_BITMODEL_CANBUSLOAD;
                        else if (strcmp(optarg, "iso") == 0)
                                o->p.model = UMC_BITMODEL_ISO;
                        else
                                return -EINVAL;
                        break;
                case 't':
                        if (parse_u64(optarg, &v) < 0 || v == 0 || v > 86400)
                                return -EINVAL;
                        o->seconds = (unsigned)v;
                        break;
                case 'c':
                        if (parse_rules(optarg, o) < 0)
                                return -EINVAL;
                        break;
                case 'o':
                        if (parse_own(optarg, o) < 0)
                                return -EINVAL;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (optind != argc - 1 || parse_target(argv[optind], o) < 0)
                return -EINVAL;
        o->p.ifname = o->ifname;
        if (o->check) {
                o->p.rules = o->rules;
                o->p.n_rules = o->n_rules;
        }
        return 0;
}

static const char *verdict_name(enum umc_reason r) {
        switch (r) {
        case UMC_REASON_OK:
                return "OK";
        case UMC_REASON_CAN_ID_UNKNOWN:
                return "CAN_ID_UNKNOWN";
        case UMC_REASON_CAN_RATE_HIGH:
                return "CAN_RATE_HIGH";
        case UMC_REASON_CAN_RATE_LOW:
                return "CAN_RATE_LOW";
        default:
                return "OTHER";
        }
}

static void print_window(const struct umc_canbus_window *w, bool check) {
        printf("load %.2f%% frames %" PRIu64 " bits %" PRIu64 " own %" PRIu64 " ownframes %" PRIu64
               " dropped %" PRIu64,
               w->percent, w->frames, w->bits, w->own_bits, w->own_frames, w->dropped);
        if (check) {
                printf(" verdict %s", verdict_name(w->verdict.reason));
                if (w->verdict.reason != UMC_REASON_OK)
                        printf(" id %0*" PRIX32 " nominal %" PRIu64 "us observed %" PRIu64 "us",
                               w->verdict.eff ? 8 : 3, w->verdict.id, w->verdict.nominal_usec,
                               w->verdict.observed_usec);
        }
        printf("\n");
        fflush(stdout);
}

static void log_status(struct umc_canbus *b) {
        struct umc_canbus_status st;

        if (umc_canbus_status(b, &st) < 0)
                return;
        fprintf(stderr, "umc-canload: %s bitrate %" PRIu64 " data bitrate %" PRIu64 "%s%s\n", st.ifname,
                st.bitrate, st.data_bitrate, st.nominal ? " (nominal: the interface reports none)" : "",
                st.fd ? ", CAN FD frames" : "");
}

/* Read and tick until the windows are done or a signal; returns an exit status. */
static int run(struct umc_canbus *b, const struct opts *o) {
        struct pollfd pfd = { .fd = umc_canbus_fd(b), .events = POLLIN };
        struct umc_canbus_window w;
        uint64_t windows = 0, frames = 0, dropped = 0;
        double sum = 0;
        int r;

        while (!stop && (o->seconds == 0 || windows < o->seconds)) {
                if (poll(&pfd, 1, POLL_MSEC) < 0 && errno != EINTR) {
                        perror("umc-canload: poll");
                        return 1;
                }
                r = umc_canbus_read(b);
                if (r == -ENETDOWN)
                        fprintf(stderr, "umc-canload: %s went down, waiting for it\n", o->ifname);
                else if (r < 0) {
                        fprintf(stderr, "umc-canload: reading %s: %s\n", o->ifname, strerror(-r));
                        return 1;
                }
                r = umc_canbus_tick(b, umc_canbus_now(), &w);
                if (r <= 0)
                        continue;
                if (r > 1)
                        fprintf(stderr, "umc-canload: %d windows closed at once, the first %d not shown\n",
                                r, r - 1);
                print_window(&w, o->check);
                windows += (uint64_t)r;
                sum += w.percent;
                frames += w.frames;
                dropped += w.dropped;
        }
        printf("mean load %.2f%% windows %" PRIu64 " frames %" PRIu64 " dropped %" PRIu64 "\n",
               windows ? sum / (double)windows : 0.0, windows, frames, dropped);
        return 0;
}

int main(int argc, char **argv) {
        static struct opts o;
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        struct sigaction sa = { .sa_handler = on_signal };
        int r;

        if (parse_args(argc, argv, &o) < 0)
                return usage();
        r = umc_canbus_new(&o.p, umc_canbus_now(), &b);
        if (r < 0) {
                fprintf(stderr, "umc-canload: bad settings for %s: %s\n", o.ifname, strerror(-r));
                return 2;
        }
        if (o.own) {
                r = umc_canbus_add_channel(b, o.own_tx.id, o.own_rx.id, o.own_tx.eff);
                if (r < 0) {
                        fprintf(stderr, "umc-canload: cannot register the own channel: %s\n", strerror(-r));
                        return 2;
                }
        }
        r = umc_canbus_open(b);
        if (r < 0) {
                fprintf(stderr, "umc-canload: cannot monitor %s: %s\n", o.ifname, strerror(-r));
                return 1;
        }
        log_status(b);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        return run(b, &o);
}
