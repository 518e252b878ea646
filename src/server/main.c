/*
 * main.c - salond: options, files, signals, start and stop.
 *
 * Exit status (man/salond.8): 0 after a clean shutdown on SIGTERM or SIGINT,
 * 1 when start-up fails (database, relay key, sockets), 2 for a usage error,
 * including plain HTTP on a non-loopback address without --allow-insecure-public.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "api.h"
#include "encoding.h"
#include "file.h"
#include "i18n.h"
#include "log.h"
#include "relay.h"
#include "store.h"
#include "util.h"

#define MAIN_EXIT_FAILURE 1
#define MAIN_EXIT_USAGE 2

struct main_options {
	const char *listen;
	const char *relay;
	const char *relay_advertise;
	const char *db;
	const char *tls_cert;
	const char *tls_key;
	const char *port_file;
	bool allow_insecure_public;
	unsigned int max_rooms;
	unsigned int login_burst;
	int verbosity;
};

static void main_usage(FILE *out)
{
	fprintf(out, _("Usage: salond [OPTION]...\n"
		       "Serve salon's signaling API and media relay.\n\n"
		       "  --listen ADDR:PORT     API address (default 127.0.0.1:7480; port 0 picks one)\n"
		       "  --relay ADDR:PORT      UDP relay address (default 127.0.0.1:7481)\n"
		       "  --relay-advertise ADDR:PORT  relay address told to clients\n"
		       "  --db PATH              database (default $XDG_DATA_HOME/salon/salond.db)\n"
		       "  --tls-cert FILE        PEM certificate for HTTPS\n"
		       "  --tls-key FILE         PEM private key for HTTPS\n"
		       "  --allow-insecure-public  allow plain HTTP on a non-loopback address\n"
		       "  --port-file FILE       write the bound addresses to FILE\n"
		       "  --max-rooms N          rooms an account may be in at once (default 2)\n"
		       "  --login-burst N        login challenges per address per minute (default 20)\n"
		       "  -v, --verbose          log more (repeat for debug)\n"
		       "  -q, --quiet            log errors only\n"
		       "  -h, --help             show this help and exit\n"
		       "  -V, --version          show the version and exit\n"));
}

/* Splits "host:port" or "[v6]:port" into newly allocated host and port strings. */
static int main_split_address(const char *text, char **host, char **port)
{
	const char *colon;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':' || close[2] == '\0')
			return -EINVAL;
		*host = xstrndup(text + 1, (size_t)(close - text - 1));
		*port = xstrdup(close + 2);
		return 0;
	}
	colon = strrchr(text, ':');
	if (colon == NULL || colon == text || colon[1] == '\0' || strchr(text, ':') != colon)
		return -EINVAL;
	*host = xstrndup(text, (size_t)(colon - text));
	*port = xstrdup(colon + 1);
	return 0;
}

/* Resolves a numeric address; returns 0 or -EINVAL. */
static int main_resolve(const char *text, int socktype, struct sockaddr_storage *addr,
			socklen_t *len)
{
	struct addrinfo hints = {0}, *res = NULL;
	char *host, *port;
	int ret;

	if (main_split_address(text, &host, &port) < 0)
		return -EINVAL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	ret = getaddrinfo(host, port, &hints, &res);
	free(host);
	free(port);
	if (ret != 0 || res == NULL || res->ai_addrlen > sizeof(*addr)) {
		if (res != NULL)
			freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static bool main_is_loopback(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

/* "127.0.0.1:7481" or "[::1]:7481" for an address. */
static char *main_format_address(const struct sockaddr_storage *addr)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		return xasprintf("[%s]:%u", host, ntohs(in6->sin6_port));
	}
	const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;

	inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
	return xasprintf("%s:%u", host, ntohs(in->sin_port));
}

static char *main_default_db(void)
{
	const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	if (data != NULL && data[0] == '/')
		return xasprintf("%s/salon/salond.db", data);
	if (home == NULL || home[0] == '\0')
		return NULL;
	return xasprintf("%s/.local/share/salon/salond.db", home);
}

/* Reads a whole small file (at most 1 MiB) into a NUL-terminated buffer. */
static char *main_read_file(const char *path)
{
	FILE *file = fopen(path, "rb");
	char *data;
	size_t len;

	if (file == NULL)
		return NULL;
	data = xmalloc(1024 * 1024 + 1);
	len = fread(data, 1, 1024 * 1024, file);
	if (ferror(file) || !feof(file)) {
		fclose(file);
		free(data);
		errno = EFBIG;
		return NULL;
	}
	fclose(file);
	data[len] = '\0';
	return data;
}

/*
 * Loads the relay's static X25519 secret from PATH.relay-key, creating it (mode
 * 0600) on first start. The file holds the key in base64url on one line.
 */
static int main_relay_key(const char *db_path, uint8_t secret[32])
{
	char *path = xasprintf("%s.relay-key", db_path);
	char *text = main_read_file(path);
	struct stat st;
	int ret = 0;

	if (text != NULL) {
		text[strcspn(text, "\r\n")] = '\0';
		ret = base64_decode(secret, 32, text);
		if (ret < 0)
			log_error(_("%s: not a relay key"), path);
		if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
			log_warn(_("%s is readable by others; it should be mode 0600"), path);
		sodium_memzero(text, strlen(text));
		free(text);
	} else if (errno == ENOENT) {
		char *encoded;

		randombytes_buf(secret, 32);
		encoded = base64_encode_new(secret, 32);
		text = xasprintf("%s\n", encoded);
		/* Never replaces a key another salond wrote meanwhile: read that one. */
		ret = file_replace(path, text, strlen(text), 0600, FILE_NO_REPLACE, NULL);
		if (ret < 0 && ret != -EEXIST)
			log_error(_("cannot write %s: %s"), path, strerror(-ret));
		sodium_memzero(encoded, strlen(encoded));
		sodium_memzero(text, strlen(text));
		free(encoded);
		free(text);
		if (ret == -EEXIST) {
			free(path);
			return main_relay_key(db_path, secret);
		}
	} else {
		ret = -errno;
		log_error(_("cannot read %s: %s"), path, strerror(errno));
	}
	free(path);
	return ret;
}

static int main_parse_count(const char *text, unsigned int *out)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || text[0] == '\0' || text[0] == '-' || value == 0 ||
	    value > 1000000)
		return -EINVAL;
	*out = (unsigned int)value;
	return 0;
}

static int main_parse_options(int argc, char **argv, struct main_options *opts)
{
	enum {
		OPT_LISTEN = 256,
		OPT_RELAY,
		OPT_RELAY_ADVERTISE,
		OPT_DB,
		OPT_TLS_CERT,
		OPT_TLS_KEY,
		OPT_INSECURE,
		OPT_PORT_FILE,
		OPT_MAX_ROOMS,
		OPT_LOGIN_BURST,
	};
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"relay", required_argument, NULL, OPT_RELAY},
		{"relay-advertise", required_argument, NULL, OPT_RELAY_ADVERTISE},
		{"db", required_argument, NULL, OPT_DB},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"allow-insecure-public", no_argument, NULL, OPT_INSECURE},
		{"port-file", required_argument, NULL, OPT_PORT_FILE},
		{"max-rooms", required_argument, NULL, OPT_MAX_ROOMS},
		{"login-burst", required_argument, NULL, OPT_LOGIN_BURST},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: opts->listen = optarg; break;
		case OPT_RELAY: opts->relay = optarg; break;
		case OPT_RELAY_ADVERTISE: opts->relay_advertise = optarg; break;
		case OPT_DB: opts->db = optarg; break;
		case OPT_TLS_CERT: opts->tls_cert = optarg; break;
		case OPT_TLS_KEY: opts->tls_key = optarg; break;
		case OPT_INSECURE: opts->allow_insecure_public = true; break;
		case OPT_PORT_FILE: opts->port_file = optarg; break;
		case OPT_MAX_ROOMS:
			if (main_parse_count(optarg, &opts->max_rooms) < 0) {
				fprintf(stderr, _("salond: invalid --max-rooms: %s\n"), optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOGIN_BURST:
			if (main_parse_count(optarg, &opts->login_burst) < 0) {
				fprintf(stderr, _("salond: invalid --login-burst: %s\n"), optarg);
				return -EINVAL;
			}
			break;
		case 'v': opts->verbosity++; break;
		case 'q': opts->verbosity = -1; break;
		case 'h': main_usage(stdout); exit(0);
		case 'V': printf("salond %s\n", PACKAGE_VERSION); exit(0);
		default: main_usage(stderr); return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, _("salond: unexpected argument: %s\n"), argv[optind]);
		return -EINVAL;
	}
	if ((opts->tls_cert == NULL) != (opts->tls_key == NULL)) {
		fprintf(stderr, _("salond: --tls-cert and --tls-key go together\n"));
		return -EINVAL;
	}
	return 0;
}

/*
 * Every client's event stream holds a connection, hence a file descriptor: take
 * the hard limit rather than the (often 1,024) soft one. Best effort.
 */
static void main_raise_fd_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
			log_warn(_("cannot raise the file descriptor limit: %s"), strerror(errno));
	}
}

/*
 * Every HTTP connection has a memory pool and every answer a few buffers. With
 * thousands of event streams answered at once, glibc's default (give the top of
 * the heap back to the kernel once 128 KiB are free) makes the heap shrink and
 * grow again all the time, and every shrink in a multi-threaded process flushes
 * the TLB of every core: a third of salond's time in a stage change to 10,000
 * streams (bench/README.md). Keep freed memory for reuse instead. Best effort.
 */
static void main_tune_malloc(void)
{
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	(void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	(void)mallopt(M_TOP_PAD, 16 * 1024 * 1024);
	(void)mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
#endif
}

int main(int argc, char **argv)
{
	struct main_options opts = {
		.listen = "127.0.0.1:7480",
		.relay = "127.0.0.1:7481",
		.max_rooms = 2,
		.login_burst = 20,
	};
	struct api_config config = {0};
	struct sockaddr_storage listen_addr, relay_addr;
	socklen_t listen_len, relay_len = sizeof(relay_addr);
	char *db_path = NULL, *relay_host = NULL, *relay_port = NULL, *relay_text = NULL;
	char *cert = NULL, *key = NULL, *lines = NULL;
	uint8_t relay_secret[32];
	struct store *store = NULL;
	struct relay *relay = NULL;
	struct api *api = NULL;
	sigset_t signals;
	int sigfd = -1, ret, status = MAIN_EXIT_FAILURE;
	enum log_level level;
	bool relay_started = false;

	i18n_init();
	if (main_parse_options(argc, argv, &opts) < 0)
		return MAIN_EXIT_USAGE;
	level = opts.verbosity < 0 ? LOG_LEVEL_ERROR :
		opts.verbosity == 0 ? LOG_LEVEL_WARN :
		opts.verbosity == 1 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
	log_init("salond", level);
	if (sodium_init() < 0)
		fatal(_("libsodium failed to initialise"));

	if (main_resolve(opts.listen, SOCK_STREAM, &listen_addr, &listen_len) < 0) {
		fprintf(stderr, _("salond: --listen needs a numeric ADDR:PORT: %s\n"), opts.listen);
		return MAIN_EXIT_USAGE;
	}
	if (main_split_address(opts.relay, &relay_host, &relay_port) < 0) {
		fprintf(stderr, _("salond: --relay needs a numeric ADDR:PORT: %s\n"), opts.relay);
		return MAIN_EXIT_USAGE;
	}
	if (!main_is_loopback(&listen_addr) && opts.tls_cert == NULL) {
		if (!opts.allow_insecure_public) {
			fprintf(stderr, _("salond: plain HTTP is only allowed on loopback; give "
					  "--tls-cert and --tls-key (or --allow-insecure-public)\n"));
			goto usage;
		}
		fprintf(stderr, _("salond: WARNING: serving plain HTTP on a public address: "
				  "tokens and room data travel unencrypted\n"));
	}
	if (opts.tls_cert != NULL) {
		cert = main_read_file(opts.tls_cert);
		key = main_read_file(opts.tls_key);
		if (cert == NULL || key == NULL) {
			log_error(_("cannot read the TLS certificate or key: %s"), strerror(errno));
			goto out;
		}
	}

	db_path = opts.db != NULL ? xstrdup(opts.db) : main_default_db();
	if (db_path == NULL) {
		log_error(_("no --db given and neither XDG_DATA_HOME nor HOME is set"));
		goto usage;
	}
	umask(077);
	ret = file_make_parents(db_path);
	if (ret < 0) {
		log_error(_("cannot create the directory for %s: %s"), db_path, strerror(-ret));
		goto out;
	}
	ret = store_open(db_path, &store);
	if (ret < 0) {
		log_error(_("cannot open the database %s: %s"), db_path, strerror(-ret));
		goto out;
	}
	if (main_relay_key(db_path, relay_secret) < 0)
		goto out;

	main_raise_fd_limit();
	main_tune_malloc();
	/* Block the stop signals before any thread starts, so only signalfd sees them. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
	if (sigfd < 0) {
		log_error(_("signalfd: %s"), strerror(errno));
		goto out;
	}

	relay = relay_new(relay_host, relay_port, relay_secret);
	if (relay == NULL) {
		log_error(_("cannot open the relay on %s: %s"), opts.relay, strerror(errno));
		goto out;
	}
	ret = relay_local_address(relay, &relay_addr, &relay_len);
	if (ret < 0) {
		log_error(_("cannot read the relay address: %s"), strerror(-ret));
		goto out;
	}
	relay_text = opts.relay_advertise != NULL ? xstrdup(opts.relay_advertise) :
						    main_format_address(&relay_addr);

	config.listen_addr = (const struct sockaddr *)&listen_addr;
	config.listen_len = listen_len;
	config.tls_cert_pem = cert;
	config.tls_key_pem = key;
	config.store = store;
	config.relay = relay;
	config.relay_address = relay_text;
	crypto_scalarmult_base(config.relay_public_key, relay_secret);
	config.max_rooms = opts.max_rooms;
	config.login_burst = opts.login_burst;
	ret = api_new(&config, &api);
	if (ret < 0) {
		log_error(_("cannot listen on %s"), opts.listen);
		goto out;
	}
	ret = relay_start(relay);
	if (ret < 0) {
		log_error(_("cannot start the relay: %s"), strerror(-ret));
		goto out;
	}
	relay_started = true;

	{
		struct sockaddr_storage shown = listen_addr;
		char *api_text, *relay_shown = main_format_address(&relay_addr);

		if (shown.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&shown)->sin6_port = htons(api_port(api));
		else
			((struct sockaddr_in *)&shown)->sin_port = htons(api_port(api));
		api_text = main_format_address(&shown);
		lines = xasprintf("api %s://%s\nrelay %s\n", cert ? "https" : "http", api_text,
				  relay_shown);
		free(api_text);
		free(relay_shown);
	}
	if (opts.port_file != NULL) {
		ret = file_replace(opts.port_file, lines, strlen(lines), 0600,
				   FILE_REPLACE, NULL);
		if (ret < 0) {
			log_error(_("cannot write %s: %s"), opts.port_file, strerror(-ret));
			goto out;
		}
	}
	fputs(lines, stdout);
	fflush(stdout);
	log_info(_("serving; database %s"), db_path);

	ret = api_run(api, sigfd);
	if (ret < 0)
		log_error(_("event loop failed: %s"), strerror(-ret));
	else
		status = 0;
	log_info(_("shutting down"));
	goto out;
usage:
	status = MAIN_EXIT_USAGE;
out:
	api_free(api);
	if (relay_started)
		relay_stop(relay);
	relay_free(relay);
	store_close(store);
	if (sigfd >= 0)
		close(sigfd);
	sodium_memzero(relay_secret, sizeof(relay_secret));
	free(db_path);
	free(relay_host);
	free(relay_port);
	free(relay_text);
	free(cert);
	if (key != NULL) {
		sodium_memzero(key, strlen(key));
		free(key);
	}
	free(lines);
	return status;
}
