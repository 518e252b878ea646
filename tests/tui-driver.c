/*
 * tui-driver.c - runs the full-screen UI (tui.h) on an engine made from environment
 * variables, so that tests/tui.sh drives the TUI in tmux without depending on the
 * salon program's options:
 *
 *   SALON_TUI_SERVER   salond URL (required)
 *   SALON_TUI_NAME     display name at first login (required)
 *   SALON_TUI_HOME     directory for the identity and pins (required)
 *   SALON_TUI_ASCII    1: ASCII only
 *   SALON_TUI_EARCONS  1: earcons on (heard through the null output); default off
 *   SALON_TUI_ROOM     room id to join at start
 *   SALON_TUI_CONFIG   a config file whose [keys] section is applied
 *   SALON_TUI_LOG      a file for the engine's log (stderr otherwise; the screen
 *                      must not get it)
 *
 * Audio is the null backend both ways. Exit status: tui_run()'s.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-file.h"
#include "engine.h"
#include "i18n.h"
#include "log.h"
#include "tui.h"
#include "util.h"

static const char *tui_driver_env(const char *name)
{
	const char *value = getenv(name);

	if (value == NULL || value[0] == '\0') {
		fprintf(stderr, "tui-driver: %s is required\n", name);
		exit(2);
	}
	return value;
}

int main(void)
{
	struct engine_options engine_options = {0};
	struct tui_options options;
	struct config_file cfg;
	struct engine *engine;
	const char *home = tui_driver_env("SALON_TUI_HOME");
	const char *value;
	char *identity, *pins, *error = NULL;
	int status;

	i18n_init();
	if ((value = getenv("SALON_TUI_LOG")) != NULL && freopen(value, "a", stderr) == NULL)
		return 1;
	config_file_init(&cfg);
	if ((value = getenv("SALON_TUI_CONFIG")) != NULL && config_file_load(&cfg, value) < 0) {
		for (size_t i = 0; i < cfg.diag_count; i++)
			fprintf(stderr, "%s\n", cfg.diags[i].message);
	}
	identity = xasprintf("%s/identity", home);
	pins = xasprintf("%s/pins", home);
	engine_options.server_url = tui_driver_env("SALON_TUI_SERVER");
	engine_options.name = tui_driver_env("SALON_TUI_NAME");
	engine_options.identity_path = identity;
	engine_options.pins_path = pins;
	engine_options.capture = "null";
	engine_options.playback = "null";
	engine_options.frame_ms = 20;
	engine_options.bitrate = 24000;
	engine_options.complexity = 5;
	if (engine_new(&engine_options, &engine, &error) < 0) {
		fprintf(stderr, "tui-driver: %s\n", error != NULL ? error : "engine_new failed");
		free(error);
		return 1;
	}
	if (engine_start(engine) < 0) {
		fprintf(stderr, "tui-driver: engine_start failed\n");
		engine_free(engine);
		return 1;
	}
	tui_options_init(&options);
	options.ascii = (value = getenv("SALON_TUI_ASCII")) != NULL && strcmp(value, "1") == 0;
	options.earcons = (value = getenv("SALON_TUI_EARCONS")) != NULL && strcmp(value, "1") == 0;
	if ((value = getenv("SALON_TUI_ROOM")) != NULL)
		options.room = strtoull(value, NULL, 10);
	options.bindings = cfg.bindings;
	options.binding_count = cfg.binding_count;
	status = tui_run(engine, &options);
	engine_free(engine);
	config_file_free(&cfg);
	free(identity);
	free(pins);
	return status;
}
