/*
 * labwork: the guest side of `mcstudy lab` (docs/lab.md). One static binary, seven modes
 * (btf reads structure layouts, thp offers khugepaged a region: see btf() and thp() below).
 *
 *   labwork churn CPU MIB SEED
 *       Anonymous-memory churn: MIB MiB of private anonymous memory (no THP), pages
 *       picked uniformly at random and written forever (until SIGTERM); "filled MS" is
 *       printed after one ring's worth of writes. With MIB larger than the guest's RAM and
 *       swap on zram, a write to a page that is not resident allocates a page: the zone
 *       stays in reclaim, and a larger ring misses more often (a random page is resident
 *       with probability about resident / MIB).
 *
 *   labwork sample CPU PERIOD_MS
 *       Every PERIOD_MS ms, one line per zone of /proc/zoneinfo:
 *       "z MS NODE ZONE FREE MIN LOW HIGH BOOST" (pages; MS on CLOCK_MONOTONIC), until
 *       SIGTERM.
 *
 *   labwork zonewatch CPU PERIOD_US BIN_MS
 *       Every PERIOD_US us (absolute deadlines; a late sample moves the next one), reads
 *       /proc/zoneinfo and asks, per zone, whether free pages are at or below the min mark
 *       as printed (boost included: what a GFP_NOWAIT allocation checks). Every BIN_MS ms,
 *       one line per zone: "q END_MS NODE ZONE SAMPLES BELOW ENTRIES UNBOOSTED" (samples
 *       taken in the bin, those at or below min, entries from above min to at or below it,
 *       samples at or below the min mark without the boost), until SIGTERM; MS on
 *       CLOCK_MONOTONIC.
 *
 *   labwork indep CPU GATHERS BLOCKS GAP_US SEED SNAPSHOT_FILES...
 *       Gathers independent of the zone: while memory is free (before the level's churn),
 *       maps GATHERS one-page PROT_READ regions 2 MiB apart at 2 TiB and reads each (one
 *       PTE table per region, the shared zero page: no data page), prints "mapped" on
 *       stderr and waits for SIGUSR1. Then it unmaps them one by one, each munmap at an
 *       instant drawn ahead of time (exponential gaps of mean GAP_US, seeded): the task
 *       sleeps between munmaps and makes no allocation of its own before them (only the
 *       munmap's own VMA bookkeeping), so a gather finds the zone at an instant that does
 *       not follow the zone (PASTA). Each munmap frees the region's PTE table (the PMD
 *       table when the region was the last of its 1 GiB range) through
 *       tlb_remove_table(): one batch-page attempt. Output as ptwork's, work windows only
 *       (BLOCKS of them).
 *
 *   labwork ptwork CPU GATHERS BLOCKS IDLE_PERMILLE PTES LAYOUT OFFSET_KIB SNAPSHOT_FILES...
 *       The page-table workload. Each gather: mmap a PROT_READ anonymous region of PTES x
 *       2 MiB at a fixed address, read one byte in every 2 MiB (each read maps the shared
 *       zero page: one PTE table per 2 MiB, no data page), munmap it: free_pgtables() then
 *       hands the region's page tables to tlb_remove_table() in one mmu_gather, and no
 *       data page goes through the gather (tlb_next_batch() makes no allocation).
 *       LAYOUT "isolated": the region is alone in its 512 GiB slot (its PMD and PUD tables
 *       are freed too); "adjacent": PROT_NONE guard pages touch both ends (only the PTE
 *       tables of 2 MiB slots inside the region are freed). OFFSET_KIB: start of the
 *       region past the 512 GiB boundary. The gathers run in BLOCKS blocks; after each
 *       block the process spins in user space for IDLE_PERMILLE/1000 of the time the block
 *       took (a no-work window). Around every window it copies each SNAPSHOT_FILE (e.g. /proc/interrupts,
 *       /proc/vmstat, /proc/zoneinfo, trace histograms) to stdout:
 *           "@window KIND BLOCK GATHERS START_NS END_NS"   KIND = work | idle
 *           "@file EDGE PATH" (EDGE = begin | end), the file's text, "@end"
 *       and at the start "@maps" + /proc/self/maps + "@end", "@region START END".
 *
 * Every mode pins itself to CPU first. Errors: one line "labwork: error: ..." on stderr,
 * exit status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

#define PAGE 4096UL
#define PMD_SPAN (2UL << 20)
#define SLOT (512UL << 30)
#define SLOT_BASE (1UL << 40) /* 1 TiB: an empty 512 GiB slot (48- and 47-bit VA) */

static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("labwork: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die("%s: expected an integer in [%ld, %ld], got '%s'", what, lo, hi, s);
	return v;
}

static void pin(int cpu, const char *name)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("cannot pin to CPU %d: %s", cpu, strerror(errno));
	prctl(PR_SET_NAME, name, 0, 0, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ churn */

static int churn(int argc, char **argv)
{
	if (argc != 5)
		die("usage: labwork churn CPU MIB SEED");
	int cpu = (int)parse_long(argv[2], "CPU", 0, 4095);
	long mib = parse_long(argv[3], "MIB", 1, 1 << 20);
	uint64_t x = (uint64_t)parse_long(argv[4], "SEED", 1, 0x7fffffffL) * 0x9E3779B97F4A7C15ULL;
	pin(cpu, "churn");
	size_t pages = (size_t)mib << 8;
	char *ring = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ring == MAP_FAILED)
		die("mmap of %ld MiB: %s", mib, strerror(errno));
	madvise(ring, pages * PAGE, MADV_NOHUGEPAGE);
	/* warm-up: one ring's worth of random writes (about 63 % of the pages touched), then
	 * report; the churn goes on the same way */
	uint64_t count = 0, t0 = now_ns();
	for (;;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t i = (size_t)(x % pages);
		uint64_t *w = (uint64_t *)(ring + i * PAGE); /* not same-filled: zram compresses */
		w[0] = i;
		w[1] = ++count;
		if (count == pages) {
			printf("filled %llu ms\n", (unsigned long long)((now_ns() - t0) / 1000000ULL));
			fflush(stdout);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ sample */

static int sample(int argc, char **argv)
{
	if (argc != 4)
		die("usage: labwork sample CPU PERIOD_MS");
	int cpu = (int)parse_long(argv[2], "CPU", 0, 4095);
	long period = parse_long(argv[3], "PERIOD_MS", 1, 60000);
	pin(cpu, "sample");
	static char buf[1 << 16];
	for (;;) {
		int fd = open("/proc/zoneinfo", O_RDONLY);
		if (fd < 0)
			die("/proc/zoneinfo: %s", strerror(errno));
		size_t len = 0;
		ssize_t n;
		while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		close(fd);
		buf[len] = 0;
		long ms = (long)(now_ns() / 1000000ULL);
		int node = -1;
		char zone[32] = "";
		long v[5] = { -1, -1, -1, -1, -1 }; /* free min low high boost */
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			long val;
			char name[32];
			if (sscanf(line, "Node %d, zone %31s", &node, zone) == 2) {
				v[0] = v[1] = v[2] = v[3] = v[4] = -1;
				continue;
			}
			if (sscanf(line, " pages free %ld", &val) == 1) {
				v[0] = val;
			} else if (sscanf(line, " %31s %ld", name, &val) == 2) {
				int k = !strcmp(name, "min") ? 1 : !strcmp(name, "low") ? 2 :
					!strcmp(name, "high") ? 3 : !strcmp(name, "boost") ? 4 : -1;
				if (k > 0 && v[k] < 0)
					v[k] = val;
				if (k == 3 && v[0] >= 0)
					printf("z %ld %d %s %ld %ld %ld %ld %ld\n", ms, node, zone, v[0], v[1],
					       v[2], v[3], v[4] < 0 ? 0 : v[4]);
			}
		}
		fflush(stdout);
		struct timespec ts = { period / 1000, (period % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* natural logarithm of x > 0 without libm (the workload links libc only): x = m 2^e with
 * m in [1, 2), ln m = 2 atanh((m - 1) / (m + 1)) by its series (|z| <= 1/3: 1e-15 after
 * 16 terms) */
static double ln(double x)
{
	union {
		double d;
		uint64_t u;
	} v = { x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ~(0x7ffULL << 52)) | (1023ULL << 52);
	double z = (v.d - 1.0) / (v.d + 1.0), z2 = z * z, term = z, sum = 0.0;
	for (int k = 1; k < 34; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return 2.0 * sum + e * 0.69314718055994530942;
}

/* ------------------------------------------------------------------ zonewatch */

#define WATCH_ZONES 8

static volatile sig_atomic_t go_flag;

static void on_usr1(int sig)
{
	(void)sig;
	go_flag = 1;
}

static int zonewatch(int argc, char **argv)
{
	if (argc != 5)
		die("usage: labwork zonewatch CPU PERIOD_US BIN_MS");
	int cpu = (int)parse_long(argv[2], "CPU", 0, 4095);
	long period = parse_long(argv[3], "PERIOD_US", 50, 10000000L);
	long bin_ms = parse_long(argv[4], "BIN_MS", 1, 600000L);
	pin(cpu, "zonewatch");
	static char buf[1 << 17];
	int fd = open("/proc/zoneinfo", O_RDONLY);
	if (fd < 0)
		die("/proc/zoneinfo: %s", strerror(errno));
	char names[WATCH_ZONES][32];
	int nodes[WATCH_ZONES], was[WATCH_ZONES];
	long samples[WATCH_ZONES], below[WATCH_ZONES], entries[WATCH_ZONES], raw[WATCH_ZONES];
	int nz = 0;
	memset(raw, 0, sizeof(raw));
	memset(was, 0, sizeof(was));
	memset(samples, 0, sizeof(samples));
	memset(below, 0, sizeof(below));
	memset(entries, 0, sizeof(entries));
	uint64_t next = now_ns(), bin_end = next + (uint64_t)bin_ms * 1000000ULL;
	for (;;) {
		ssize_t n;
		size_t len = 0;
		if (lseek(fd, 0, SEEK_SET) < 0)
			die("/proc/zoneinfo: lseek: %s", strerror(errno));
		while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = 0;
		int node = -1, z = -1;
		char zone[32] = "";
		long freep = -1, boost = 0;
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			long val;
			if (sscanf(line, "Node %d, zone %31s", &node, zone) == 2) {
				z = -1;
				for (int i = 0; i < nz; i++)
					if (nodes[i] == node && !strcmp(names[i], zone))
						z = i;
				if (z < 0 && nz < WATCH_ZONES) {
					z = nz++;
					nodes[z] = node;
					snprintf(names[z], sizeof(names[z]), "%s", zone);
				}
				freep = -1;
				continue;
			}
			if (z < 0)
				continue;
			if (sscanf(line, " pages free %ld", &val) == 1) {
				freep = val;
				boost = 0;
			} else if (freep >= 0 && sscanf(line, " boost %ld", &val) == 1) {
				boost = val;
			} else if (freep >= 0 && sscanf(line, " min %ld", &val) == 1) {
				int b = freep <= val;
				samples[z]++;
				below[z] += b;
				raw[z] += freep <= val - boost;
				entries[z] += b && !was[z];
				was[z] = b;
				freep = -1;
				z = -1;
			}
		}
		uint64_t t = now_ns();
		if (t >= bin_end) {
			for (int i = 0; i < nz; i++) {
				printf("q %llu %d %s %ld %ld %ld %ld\n",
				       (unsigned long long)(t / 1000000ULL), nodes[i], names[i],
				       samples[i], below[i], entries[i], raw[i]);
				samples[i] = below[i] = entries[i] = raw[i] = 0;
			}
			fflush(stdout);
			bin_end = t + (uint64_t)bin_ms * 1000000ULL;
		}
		next += (uint64_t)period * 1000ULL;
		if (next < t)
			next = t + (uint64_t)period * 1000ULL;
		struct timespec ts = { (time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	return 0;
}

/* ------------------------------------------------------------------ ptwork */

static void copy_file(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	ssize_t n;
	int last = '\n';
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		last = buf[n - 1];
	}
	if (n < 0)
		die("%s: %s", path, strerror(errno));
	close(fd);
	if (last != '\n')
		fputc('\n', stdout);
}

static void snapshot(const char *edge, int nfiles, char **files)
{
	for (int i = 0; i < nfiles; i++) {
		printf("@file %s %s\n", edge, files[i]);
		copy_file(files[i]);
		printf("@end\n");
	}
}

static void one_gather(char *addr, size_t size)
{
	char *p = mmap(addr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || p != addr)
		die("mmap at %p: %s", (void *)addr, p == MAP_FAILED ? strerror(errno) : "moved");
	madvise(p, size, MADV_NOHUGEPAGE);
	volatile char sink = 0;
	for (size_t off = 0; off < size; off += PMD_SPAN)
		sink += p[off];
	(void)sink;
	if (munmap(p, size))
		die("munmap: %s", strerror(errno));
}

static int ptwork(int argc, char **argv)
{
	if (argc < 9)
		die("usage: labwork ptwork CPU GATHERS BLOCKS IDLE_PERMILLE PTES LAYOUT OFFSET_KIB FILES...");
	int cpu = (int)parse_long(argv[2], "CPU", 0, 4095);
	long gathers = parse_long(argv[3], "GATHERS", 1, 100000000L);
	long blocks = parse_long(argv[4], "BLOCKS", 1, 10000);
	long idle = parse_long(argv[5], "IDLE_PERMILLE", 1, 100000);
	long ptes = parse_long(argv[6], "PTES", 1, 1 << 18);
	const char *layout = argv[7];
	long offset_kib = parse_long(argv[8], "OFFSET_KIB", 0, (long)(SLOT >> 10) - 4);
	int nfiles = argc - 9;
	char **files = argv + 9;
	if (strcmp(layout, "isolated") && strcmp(layout, "adjacent"))
		die("LAYOUT: expected isolated or adjacent, got '%s'", layout);
	if (offset_kib % 4)
		die("OFFSET_KIB: %ld is not a multiple of 4", offset_kib);
	if (blocks > gathers)
		die("BLOCKS (%ld) exceeds GATHERS (%ld)", blocks, gathers);
	pin(cpu, "ptwork");
	size_t size = (size_t)ptes * PMD_SPAN;
	char *addr = (char *)(SLOT_BASE + ((size_t)offset_kib << 10));
	if ((size_t)offset_kib * 1024 + size > SLOT)
		die("the region does not fit in one 512 GiB slot");
	if (!strcmp(layout, "adjacent")) {
		char *lo = mmap(addr - PAGE, PAGE, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		char *hi = mmap(addr + size, PAGE, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (lo == MAP_FAILED || hi == MAP_FAILED)
			die("guard pages: %s", strerror(errno));
	}
	printf("@region %lu %lu\n", (unsigned long)addr, (unsigned long)(addr + size));
	/* the region's own VMA must not be in the maps shown: map it, print, unmap */
	char *probe = mmap(addr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			   -1, 0);
	if (probe == MAP_FAILED || probe != addr)
		die("mmap at %p: %s", (void *)addr, probe == MAP_FAILED ? strerror(errno) : "moved");
	printf("@maps\n");
	copy_file("/proc/self/maps");
	printf("@end\n");
	munmap(probe, size);
	fflush(stdout);
	long done = 0;
	for (long b = 0; b < blocks; b++) {
		long n = gathers / blocks + (b < gathers % blocks ? 1 : 0);
		snapshot("begin", nfiles, files);
		uint64_t t0 = now_ns();
		for (long g = 0; g < n; g++)
			one_gather(addr, size);
		uint64_t t1 = now_ns();
		snapshot("end", nfiles, files);
		printf("@window work %ld %ld %llu %llu\n", b, n, (unsigned long long)t0,
		       (unsigned long long)t1);
		done += n;
		snapshot("begin", nfiles, files);
		uint64_t s0 = now_ns(), s1, len = (t1 - t0) / 1000 * (uint64_t)idle;
		while ((s1 = now_ns()) - s0 < len)
			;
		snapshot("end", nfiles, files);
		printf("@window idle %ld 0 %llu %llu\n", b, (unsigned long long)s0,
		       (unsigned long long)s1);
		fflush(stdout);
	}
	printf("@done %ld\n", done);
	return 0;
}

static int indep(int argc, char **argv)
{
	if (argc < 7)
		die("usage: labwork indep CPU GATHERS BLOCKS GAP_US SEED FILES...");
	int cpu = (int)parse_long(argv[2], "CPU", 0, 4095);
	long gathers = parse_long(argv[3], "GATHERS", 1, 60000L);
	long blocks = parse_long(argv[4], "BLOCKS", 1, 10000);
	long gap = parse_long(argv[5], "GAP_US", 1, 10000000L);
	uint64_t x = (uint64_t)parse_long(argv[6], "SEED", 1, 0x7fffffffL) * 0x9E3779B97F4A7C15ULL;
	int nfiles = argc - 7;
	char **files = argv + 7;
	if (blocks > gathers)
		die("BLOCKS (%ld) exceeds GATHERS (%ld)", blocks, gathers);
	pin(cpu, "ptwork"); /* the name the kprobe events' filters select */
	char *base = (char *)(2 * SLOT_BASE);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	volatile char sink = 0;
	for (long i = 0; i < gathers; i++) {
		char *a = base + (size_t)i * PMD_SPAN;
		char *p = mmap(a, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (p == MAP_FAILED || p != a)
			die("mmap at %p: %s", (void *)a, p == MAP_FAILED ? strerror(errno) : "moved");
		sink += p[0];
	}
	(void)sink;
	printf("@region %lu %lu\n", (unsigned long)base,
	       (unsigned long)(base + (size_t)gathers * PMD_SPAN));
	printf("@maps\n");
	copy_file("/proc/self/maps");
	printf("@end\n");
	fflush(stdout);
	/* the unmap instants, drawn before the level starts */
	double *gaps = malloc(sizeof(double) * (size_t)gathers);
	if (!gaps)
		die("out of memory");
	for (long i = 0; i < gathers; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
		gaps[i] = -ln(u) * (double)gap * 1000.0;
	}
	fputs("mapped\n", stderr);
	fflush(stderr);
	while (!go_flag)
		pause();
	long done = 0;
	double next = (double)now_ns();
	for (long b = 0; b < blocks; b++) {
		long n = gathers / blocks + (b < gathers % blocks ? 1 : 0);
		snapshot("begin", nfiles, files);
		uint64_t t0 = now_ns();
		for (long g = 0; g < n; g++, done++) {
			next += gaps[done];
			uint64_t at = (uint64_t)next;
			struct timespec ts = { (time_t)(at / 1000000000ULL), (long)(at % 1000000000ULL) };
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
			if (munmap(base + (size_t)done * PMD_SPAN, PAGE))
				die("munmap: %s", strerror(errno));
		}
		uint64_t t1 = now_ns();
		snapshot("end", nfiles, files);
		printf("@window work %ld %ld %llu %llu\n", b, n, (unsigned long long)t0,
		       (unsigned long long)t1);
		fflush(stdout);
		next = (double)now_ns();
	}
	printf("@done %ld\n", done);
	return 0;
}

/*
 * labwork thp CPU MIB TIMEOUT_S IDLE_MS IDLE_WINDOWS FILES...
 *   A region khugepaged can collapse (transparent_hugepage/enabled = madvise): MIB MiB of
 *   private anonymous memory aligned to 2 MiB, every page written while the region is not
 *   MADV_HUGEPAGE (so the faults map small pages), then madvise(MADV_HUGEPAGE), which
 *   hands the mm to khugepaged. Before that, IDLE_WINDOWS no-work windows of IDLE_MS ms
 *   each (sleeping);
 *   then one work window from the madvise until /proc/self/smaps_rollup shows the whole
 *   region as AnonHugePages or TIMEOUT_S s passed. Output as ptwork's ("@window idle|work
 *   ..." with the FILES' snapshots; GATHERS of the work window = the region's PMD ranges);
 *   "@done N": N = 2 MiB ranges mapped huge at the end.
 */
static long anon_huge_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;
	if (!f)
		die("/proc/self/smaps_rollup: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		die("/proc/self/smaps_rollup has no AnonHugePages line");
	return kb;
}

static int thp(int argc, char **argv)
{
	if (argc < 7)
		die("usage: labwork thp CPU MIB TIMEOUT_S IDLE_MS IDLE_WINDOWS FILES...");
	int cpu = (int)parse_long(argv[2], "CPU", 0, 4095);
	long mib = parse_long(argv[3], "MIB", 2, 1 << 16);
	long timeout = parse_long(argv[4], "TIMEOUT_S", 1, 100000);
	long idle_ms = parse_long(argv[5], "IDLE_MS", 1, 10000000);
	long windows = parse_long(argv[6], "IDLE_WINDOWS", 2, 1000);
	int nfiles = argc - 7;
	char **files = argv + 7;
	if (mib % 2)
		die("MIB: %ld is not a multiple of 2", mib);
	pin(cpu, "thpwork");
	size_t size = (size_t)mib << 20;
	char *raw = mmap(NULL, size + PMD_SPAN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		die("mmap of %ld MiB: %s", mib, strerror(errno));
	char *addr = (char *)(((uintptr_t)raw + PMD_SPAN - 1) & ~(PMD_SPAN - 1));
	for (size_t i = 0; i < size; i += PAGE)
		addr[i] = (char)(1 + (i >> 12) % 251);
	printf("@region %lu %lu\n", (unsigned long)addr, (unsigned long)(addr + size));
	printf("@maps\n");
	copy_file("/proc/self/maps");
	printf("@end\n");
	if (anon_huge_kb() != 0)
		die("the region was faulted with huge pages (is THP enabled=always?)");
	for (long b = 0; b < windows; b++) {
		snapshot("begin", nfiles, files);
		uint64_t s0 = now_ns();
		usleep((useconds_t)(idle_ms * 1000));
		uint64_t s1 = now_ns();
		snapshot("end", nfiles, files);
		printf("@window idle %ld 0 %llu %llu\n", b, (unsigned long long)s0,
		       (unsigned long long)s1);
	}
	fflush(stdout);
	snapshot("begin", nfiles, files);
	uint64_t t0 = now_ns(), t1;
	if (madvise(addr, size, 14 /* MADV_HUGEPAGE */))
		die("madvise(MADV_HUGEPAGE): %s", strerror(errno));
	long kb;
	while ((kb = anon_huge_kb()) < (long)(size >> 10) &&
	       (now_ns() - t0) < (uint64_t)timeout * 1000000000ULL)
		usleep(50000);
	t1 = now_ns();
	snapshot("end", nfiles, files);
	printf("@window work 0 %ld %llu %llu\n", mib / 2, (unsigned long long)t0,
	       (unsigned long long)t1);
	printf("@done %ld\n", kb / 2048);
	return 0;
}

/*
 * labwork btf FILE STRUCT.MEMBER...
 *   Byte offsets of structure members from the kernel's BTF (FILE: /sys/kernel/btf/vmlinux;
 *   format: the kernel's Documentation/bpf/btf.rst). One line per argument:
 *   "STRUCT.MEMBER OFFSET", or "STRUCT.MEMBER -" when the kernel has no such struct or
 *   member (or the member is a bitfield). Only the struct's direct members are searched.
 */
struct btf_hdr {
	uint16_t magic;
	uint8_t version, flags;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
};

static long btf_extra(uint32_t kind, uint32_t vlen)
{
	switch (kind) {
	case 1: case 14: case 17: return 4;             /* INT, VAR, DECL_TAG */
	case 3: return 12;                               /* ARRAY */
	case 4: case 5: case 15: case 19: return 12L * vlen; /* STRUCT, UNION, DATASEC, ENUM64 */
	case 6: case 13: return 8L * vlen;               /* ENUM, FUNC_PROTO */
	default: return 0;                               /* PTR, FWD, TYPEDEF, CV, FUNC, FLOAT, TYPE_TAG */
	}
}

static int btf(int argc, char **argv)
{
	if (argc < 4)
		die("usage: labwork btf FILE STRUCT.MEMBER...");
	FILE *f = fopen(argv[2], "rb");
	if (!f)
		die("btf: cannot open %s: %s", argv[2], strerror(errno));
	size_t cap = 1 << 20, len = 0;
	unsigned char *buf = malloc(cap);
	for (size_t n; buf && (n = fread(buf + len, 1, cap - len, f)) > 0;) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	struct btf_hdr h;
	if (!buf || len < sizeof(h))
		die("btf: %s is too short", argv[2]);
	memcpy(&h, buf, sizeof(h));
	if (h.magic != 0xeB9F || h.hdr_len > len ||
	    (uint64_t)h.hdr_len + h.type_off + h.type_len > len ||
	    (uint64_t)h.hdr_len + h.str_off + h.str_len > len)
		die("btf: %s is not BTF (magic 0x%x)", argv[2], h.magic);
	const unsigned char *types = buf + h.hdr_len + h.type_off;
	const char *strs = (const char *)buf + h.hdr_len + h.str_off;
	for (int a = 3; a < argc; a++) {
		char want[256];
		snprintf(want, sizeof(want), "%s", argv[a]);
		char *dot = strchr(want, '.');
		long found = -1;
		if (dot) {
			*dot = 0;
			const char *member = dot + 1;
			for (uint32_t off = 0; off + 12 <= h.type_len && found < 0;) {
				uint32_t t[3];
				memcpy(t, types + off, 12);
				uint32_t vlen = t[1] & 0xffff, kind = (t[1] >> 24) & 0x1f;
				int kflag = t[1] >> 31;
				if (kind == 4 && t[0] < h.str_len && !strcmp(strs + t[0], want)) {
					for (uint32_t i = 0; i < vlen; i++) {
						uint32_t m[3];
						memcpy(m, types + off + 12 + 12 * i, 12);
						uint32_t bits = kflag ? (m[2] & 0xffffff) : m[2];
						uint32_t bsize = kflag ? (m[2] >> 24) : 0;
						if (m[0] < h.str_len && !strcmp(strs + m[0], member) &&
						    bits % 8 == 0 && bsize == 0) {
							found = bits / 8;
							break;
						}
					}
				}
				off += 12 + btf_extra(kind, vlen);
			}
		}
		if (found >= 0)
			printf("%s %ld\n", argv[a], found);
		else
			printf("%s -\n", argv[a]);
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc >= 2 && !strcmp(argv[1], "churn"))
		return churn(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "sample"))
		return sample(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "ptwork"))
		return ptwork(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "zonewatch"))
		return zonewatch(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "indep"))
		return indep(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "btf"))
		return btf(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "thp"))
		return thp(argc, argv);
	die("usage: labwork churn|sample|ptwork|btf|thp|zonewatch|indep ...");
	return 2;
}
