/*
 * fuzz-config.c - config_file_parse_buffer() on arbitrary bytes.
 *
 * Whatever the input, every setting must stay within its documented range, strings
 * must be NUL-terminated copies without control characters where config-file.h
 * forbids them, each diagnostic must name the file, and the return value must say
 * whether any diagnostic was added. The input is read twice into the same config,
 * as a user file read over a system one, to exercise replacing values.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "config-file.h"

#define NAME "fuzz.conf"

static void check_config(const struct config_file *cfg)
{
	FUZZ_ASSERT(cfg->bitrate >= CONFIG_FILE_BITRATE_MIN &&
		    cfg->bitrate <= CONFIG_FILE_BITRATE_MAX);
	FUZZ_ASSERT(cfg->frame_ms == 10 || cfg->frame_ms == 20);
	FUZZ_ASSERT(cfg->complexity >= 0 && cfg->complexity <= 10);
	FUZZ_ASSERT(cfg->verbosity >= LOG_LEVEL_ERROR && cfg->verbosity <= LOG_LEVEL_DEBUG);
	FUZZ_ASSERT(cfg->earcon_volume >= 0 && cfg->earcon_volume <= 100);
	FUZZ_ASSERT(cfg->ascii >= -1 && cfg->ascii <= 1);
	/* URL schemes are case-insensitive (RFC 3986, section 3.1). */
	if (cfg->server != NULL)
		FUZZ_ASSERT(strncasecmp(cfg->server, "http://", 7) == 0 ||
			    strncasecmp(cfg->server, "https://", 8) == 0);
	if (cfg->name != NULL) {
		FUZZ_ASSERT(cfg->name[0] != '\0');
		for (const unsigned char *p = (const unsigned char *)cfg->name; *p; p++)
			FUZZ_ASSERT(*p >= 0x20 && *p != 0x7f);
	}
	for (size_t i = 0; i < cfg->binding_count; i++) {
		FUZZ_ASSERT(cfg->bindings[i].key != NULL && cfg->bindings[i].action != NULL);
		FUZZ_ASSERT(cfg->bindings[i].line >= 1);
	}
	for (size_t i = 0; i < cfg->diag_count; i++) {
		FUZZ_ASSERT(cfg->diags[i].message != NULL);
		FUZZ_ASSERT(strncmp(cfg->diags[i].message, NAME ":", strlen(NAME) + 1) == 0);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_file cfg;
	size_t before;
	int ret;

	config_file_init(&cfg);
	ret = config_file_parse_buffer(&cfg, NAME, (const char *)data, size);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
	FUZZ_ASSERT((ret == -EINVAL) == (cfg.diag_count > 0));
	check_config(&cfg);
	before = cfg.diag_count;
	ret = config_file_parse_buffer(&cfg, NAME, (const char *)data, size);
	FUZZ_ASSERT((ret == -EINVAL) == (cfg.diag_count > before));
	check_config(&cfg);
	config_file_free(&cfg);
	return 0;
}
