/*
 * pins.c - the trust-on-first-use pin store (format and rules in pins.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "file.h"
#include "i18n.h"
#include "log.h"
#include "pins.h"
#include "util.h"

#define PINS_HEADER "# salon pins v1: user-id public-key first-seen-unix-time [verified]"
#define PINS_VERIFIED "verified"

struct pins_pin {
	uint64_t user_id;
	uint8_t key[IDENTITY_PUBLIC_LEN];
	time_t first_seen;
	bool verified; /* the user compared safety numbers for this key */
};

/* A line of the file: a pin, or text kept verbatim (comments, blanks, bad lines). */
struct pins_line {
	char *raw;  /* NULL for a pin */
	size_t pin; /* index in pins->pins when raw is NULL */
};

/* Open addressing from user id to pin index + 1 (0 marks an empty slot). */
struct pins_slot {
	uint64_t user_id;
	size_t pin_plus_one;
};

struct pins {
	char *path;
	struct pins_pin *pins;
	size_t count, capacity;
	struct pins_line *lines;
	size_t line_count, line_capacity;
	struct pins_slot *slots;
	size_t slot_capacity; /* a power of two */
	bool dirty;
};

static size_t pins_hash(uint64_t id, size_t capacity)
{
	id ^= id >> 33;
	id *= UINT64_C(0xff51afd7ed558ccd);
	id ^= id >> 33;
	return (size_t)id & (capacity - 1);
}

static struct pins_pin *pins_find(const struct pins *pins, uint64_t user_id)
{
	size_t mask = pins->slot_capacity - 1;

	for (size_t i = pins_hash(user_id, pins->slot_capacity); pins->slots[i].pin_plus_one;
	     i = (i + 1) & mask) {
		if (pins->slots[i].user_id == user_id)
			return &pins->pins[pins->slots[i].pin_plus_one - 1];
	}
	return NULL;
}

static void pins_index(struct pins *pins, uint64_t user_id, size_t pin)
{
	size_t i = pins_hash(user_id, pins->slot_capacity);

	while (pins->slots[i].pin_plus_one)
		i = (i + 1) & (pins->slot_capacity - 1);
	pins->slots[i].user_id = user_id;
	pins->slots[i].pin_plus_one = pin + 1;
}

static void pins_add_line(struct pins *pins, char *raw, size_t pin)
{
	if (pins->line_count == pins->line_capacity) {
		pins->line_capacity = pins->line_capacity == 0 ? 16 : pins->line_capacity * 2;
		pins->lines = xreallocarray(pins->lines, pins->line_capacity, sizeof(*pins->lines));
	}
	pins->lines[pins->line_count].raw = raw;
	pins->lines[pins->line_count].pin = pin;
	pins->line_count++;
}

/* Adds a pin (user_id must not be pinned yet) and its line. */
static void pins_add(struct pins *pins, uint64_t user_id, const uint8_t *key, time_t first_seen)
{
	if (pins->count == pins->capacity) {
		pins->capacity = pins->capacity == 0 ? 16 : pins->capacity * 2;
		pins->pins = xreallocarray(pins->pins, pins->capacity, sizeof(*pins->pins));
	}
	if ((pins->count + 1) * 2 > pins->slot_capacity) {
		free(pins->slots);
		pins->slot_capacity *= 2;
		pins->slots = xcalloc(pins->slot_capacity, sizeof(*pins->slots));
		for (size_t i = 0; i < pins->count; i++)
			pins_index(pins, pins->pins[i].user_id, i);
	}
	pins->pins[pins->count].user_id = user_id;
	memcpy(pins->pins[pins->count].key, key, IDENTITY_PUBLIC_LEN);
	pins->pins[pins->count].first_seen = first_seen;
	pins->pins[pins->count].verified = false;
	pins_index(pins, user_id, pins->count);
	pins_add_line(pins, NULL, pins->count);
	pins->count++;
}

/* Parses a decimal number of at most max without sign, spaces or leading '+'. */
static int pins_parse_number(const char *text, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*text == '\0')
		return -EINVAL;
	for (; *text != '\0'; text++) {
		unsigned digit;

		if (*text < '0' || *text > '9')
			return -EINVAL;
		digit = (unsigned)(*text - '0');
		if (v > (max - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*out = v;
	return 0;
}

/*
 * Parses one pin line (without its newline) into pin. Returns 0, or -EINVAL with
 * *reason pointing to an untranslated (N_) explanation.
 */
static int pins_parse_line(char *line, struct pins_pin *pin, const char **reason)
{
	char *fields[4] = {NULL, NULL, NULL, NULL};
	char *p = line;
	uint64_t number;

	/* Three fields, and the optional fourth "verified" (added later: old lines lack it). */
	for (int i = 0; i < 4; i++) {
		fields[i] = p;
		p = strchr(p, ' ');
		if (i < 2 && p == NULL) {
			*reason = N_("expected three fields: user id, key, first-seen time");
			return -EINVAL;
		}
		if (p == NULL)
			break;
		if (i == 3) {
			*reason = N_("expected three fields: user id, key, first-seen time");
			return -EINVAL;
		}
		*p++ = '\0';
	}
	pin->verified = false;
	if (fields[3] != NULL) {
		if (strcmp(fields[3], PINS_VERIFIED) != 0) {
			*reason = N_("the fourth field can only be \"verified\"");
			return -EINVAL;
		}
		pin->verified = true;
	}
	if (pins_parse_number(fields[0], UINT64_MAX, &pin->user_id) < 0) {
		*reason = N_("bad user id");
		return -EINVAL;
	}
	if (base64_decode(pin->key, IDENTITY_PUBLIC_LEN, fields[1]) < 0) {
		*reason = N_("bad public key");
		return -EINVAL;
	}
	if (pins_parse_number(fields[2], (uint64_t)INT64_MAX, &number) < 0) {
		*reason = N_("bad first-seen time");
		return -EINVAL;
	}
	pin->first_seen = (time_t)number;
	return 0;
}

static void pins_report(pins_report_fn *report, void *arg, const char *path, unsigned line,
			const char *reason)
{
	if (report != NULL)
		report(arg, line, reason);
	else
		log_warn(_("%s, line %u: %s (line ignored)"), path, line, reason);
}

static struct pins *pins_new(const char *path)
{
	struct pins *pins = xcalloc(1, sizeof(*pins));

	pins->path = xstrdup(path);
	pins->slot_capacity = 16;
	pins->slots = xcalloc(pins->slot_capacity, sizeof(*pins->slots));
	return pins;
}

int pins_open(struct pins **out, const char *path, pins_report_fn *report, void *arg)
{
	struct pins *pins = pins_new(path);
	char *line = NULL;
	size_t line_cap = 0;
	unsigned number = 0;
	struct stat st;
	ssize_t n;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL) {
		int r = -errno;

		if (r != -ENOENT) {
			pins_free(pins);
			return r;
		}
		pins_add_line(pins, xstrdup(PINS_HEADER), 0);
		*out = pins;
		return 0;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = -EINVAL;

		if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
			r = -EISDIR;

		fclose(f);
		pins_free(pins);
		return r;
	}
	while ((n = getline(&line, &line_cap, f)) >= 0) {
		struct pins_pin pin;
		const char *reason;
		char *copy;

		number++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#' || (size_t)n != strlen(line)) {
			if ((size_t)n != strlen(line)) {
				pins_report(report, arg, path, number, _("NUL byte in line"));
				/* Keep what can be kept: the text before the NUL. */
			}
			pins_add_line(pins, xstrdup(line), 0);
			continue;
		}
		copy = xstrdup(line);
		if (pins_parse_line(line, &pin, &reason) < 0) {
			pins_report(report, arg, path, number, _(reason));
			pins_add_line(pins, copy, 0);
			continue;
		}
		if (pins_find(pins, pin.user_id) != NULL) {
			pins_report(report, arg, path, number,
				    _("this user is already pinned on an earlier line"));
			pins_add_line(pins, copy, 0);
			continue;
		}
		free(copy);
		pins_add(pins, pin.user_id, pin.key, pin.first_seen);
		pins->pins[pins->count - 1].verified = pin.verified;
	}
	free(line);
	if (ferror(f)) {
		fclose(f);
		pins_free(pins);
		return -EIO;
	}
	fclose(f);
	*out = pins;
	return 0;
}

void pins_free(struct pins *pins)
{
	if (pins == NULL)
		return;
	for (size_t i = 0; i < pins->line_count; i++)
		free(pins->lines[i].raw);
	free(pins->lines);
	free(pins->pins);
	free(pins->slots);
	free(pins->path);
	free(pins);
}

int pins_check(struct pins *pins, uint64_t user_id, const uint8_t key[IDENTITY_PUBLIC_LEN],
	       time_t now, enum pins_result *result)
{
	struct pins_pin *pin = pins_find(pins, user_id);

	if (pin == NULL) {
		pins_add(pins, user_id, key, now);
		pins->dirty = true;
		*result = PINS_NEW;
	} else if (memcmp(pin->key, key, IDENTITY_PUBLIC_LEN) == 0) {
		*result = PINS_SAME;
	} else {
		*result = PINS_CHANGED;
	}
	return 0;
}

int pins_accept(struct pins *pins, uint64_t user_id, const uint8_t key[IDENTITY_PUBLIC_LEN],
		time_t now)
{
	struct pins_pin *pin = pins_find(pins, user_id);

	if (pin == NULL) {
		pins_add(pins, user_id, key, now);
	} else {
		/* A new key has not been verified, whatever the old one was. */
		if (memcmp(pin->key, key, IDENTITY_PUBLIC_LEN) != 0)
			pin->verified = false;
		memcpy(pin->key, key, IDENTITY_PUBLIC_LEN);
		pin->first_seen = now;
	}
	pins->dirty = true;
	return pins_save(pins);
}

int pins_set_verified(struct pins *pins, uint64_t user_id,
		      const uint8_t key[IDENTITY_PUBLIC_LEN], bool verified)
{
	struct pins_pin *pin = pins_find(pins, user_id);

	if (pin == NULL)
		return -ENOENT;
	if (sodium_memcmp(pin->key, key, IDENTITY_PUBLIC_LEN) != 0)
		return -EKEYREJECTED;
	if (pin->verified == verified)
		return 0;
	pin->verified = verified;
	pins->dirty = true;
	return pins_save(pins);
}

bool pins_verified(const struct pins *pins, uint64_t user_id,
		   const uint8_t key[IDENTITY_PUBLIC_LEN])
{
	const struct pins_pin *pin = pins_find(pins, user_id);

	return pin != NULL && pin->verified &&
	       sodium_memcmp(pin->key, key, IDENTITY_PUBLIC_LEN) == 0;
}

int pins_lookup(const struct pins *pins, uint64_t user_id, uint8_t key[IDENTITY_PUBLIC_LEN],
		time_t *first_seen)
{
	struct pins_pin *pin = pins_find(pins, user_id);

	if (pin == NULL)
		return -ENOENT;
	if (key != NULL)
		memcpy(key, pin->key, IDENTITY_PUBLIC_LEN);
	if (first_seen != NULL)
		*first_seen = pin->first_seen;
	return 0;
}

size_t pins_count(const struct pins *pins)
{
	return pins->count;
}

bool pins_dirty(const struct pins *pins)
{
	return pins->dirty;
}

int pins_save(struct pins *pins)
{
	char key_text[IDENTITY_PUBLIC_LEN * 2];
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	_Static_assert(sizeof(key_text) >= (IDENTITY_PUBLIC_LEN * 4 + 2) / 3 + 1, "key text");
	f = open_memstream(&text, &len);
	if (f == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < pins->line_count; i++) {
		const struct pins_line *line = &pins->lines[i];

		if (line->raw != NULL) {
			fprintf(f, "%s\n", line->raw);
		} else {
			const struct pins_pin *pin = &pins->pins[line->pin];

			base64_encode(key_text, pin->key, IDENTITY_PUBLIC_LEN);
			fprintf(f, "%" PRIu64 " %s %lld%s\n", pin->user_id, key_text,
				(long long)pin->first_seen,
				pin->verified ? " " PINS_VERIFIED : "");
		}
	}
	if (fclose(f) != 0)
		fatal("out of memory");
	r = file_replace(pins->path, text, len, 0600, FILE_REPLACE, NULL);
	free(text);
	if (r == 0)
		pins->dirty = false;
	return r;
}
