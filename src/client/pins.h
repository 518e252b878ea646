/*
 * pins.h - trust on first use: the identity key of each peer is pinned the first
 * time we see it, and a different key for the same user later is reported loudly.
 *
 * File format (normally $XDG_DATA_HOME/salon/pins, mode 0600), one pin per line:
 *
 *     <user id, decimal> SP <Ed25519 public key, base64url, 43 chars> SP
 *     <first-seen time, decimal Unix seconds> [SP "verified"] LF
 *
 * The optional last field (added later; lines without it are read as before) says
 * that the user compared safety numbers with this peer for this very key: it is
 * cleared whenever the pinned key is replaced.
 *
 * Lines starting with '#' and empty lines are ignored (and kept). A line that does
 * not parse, or that pins a user already pinned above it, is reported with its line
 * number through the caller's callback and kept verbatim when the file is written
 * again, so a damaged line never takes the rest of the file with it and the user
 * can still repair it by hand. The file is written atomically: a new temporary file
 * beside it (mode 0600), flushed to disk, then renamed over it.
 *
 * Use: pins_check() for every peer key the API shows us. NEW means first sight: the
 * key is now pinned in memory (pins_save() writes it; call it after a batch, as a
 * big room brings thousands of new peers at once). SAME is fine. CHANGED is loud:
 * the caller must warn the user, must not seal keys to that member (keys.h,
 * keys_peers_set_blocked) and must not accept its keys, until the user accepts the
 * new key with pins_accept(), which replaces the pin (clearing its verified mark
 * when the key differs) and writes the file at once.
 *
 * Errors as in util.h. A pin store belongs to one thread at a time; no locking.
 */
#ifndef SALON_PINS_H
#define SALON_PINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "identity.h"

enum pins_result {
	PINS_NEW = 0, /* never seen: pinned now */
	PINS_SAME,    /* matches the pin */
	PINS_CHANGED, /* differs from the pin: warn, do not send keys, ask the user */
};

struct pins;

/*
 * Called for each bad line of the file: its 1-based number and a translated reason.
 * When the caller passes no callback, pins_open logs a warning instead.
 */
typedef void pins_report_fn(void *arg, unsigned line, const char *reason);

/*
 * Opens the pin store at path (copied). A missing file is an empty store, created on
 * the first save. Bad lines are reported (see above) and do not make this fail.
 * Returns 0 with *out set (free with pins_free), -EISDIR/-EINVAL when path is not a
 * regular file, or another negative errno when it cannot be read.
 */
int pins_open(struct pins **out, const char *path, pins_report_fn *report, void *arg);

/* Frees the store without saving. NULL is allowed. */
void pins_free(struct pins *pins);

/*
 * Compares key with user_id's pin and says how in *result. On PINS_NEW the key is
 * pinned with first-seen time now and the store is marked unsaved. Returns 0.
 */
int pins_check(struct pins *pins, uint64_t user_id, const uint8_t key[IDENTITY_PUBLIC_LEN],
	       time_t now, enum pins_result *result);

/*
 * The user accepts key as user_id's identity: replaces (or creates) the pin with
 * first-seen time now, and saves the file. Returns 0 or as pins_save.
 */
int pins_accept(struct pins *pins, uint64_t user_id, const uint8_t key[IDENTITY_PUBLIC_LEN],
		time_t now);

/*
 * Copies user_id's pinned key and first-seen time (either pointer may be NULL).
 * Returns 0 or -ENOENT when it has no pin.
 */
int pins_lookup(const struct pins *pins, uint64_t user_id, uint8_t key[IDENTITY_PUBLIC_LEN],
		time_t *first_seen);

/*
 * Additive. Marks (or unmarks) user_id's pin as verified by the user, provided key is
 * the pinned key, and saves the file when that changed anything. Returns 0, -ENOENT
 * when user_id has no pin, -EKEYREJECTED when key differs from the pin (a changed
 * key must be accepted first), or as pins_save.
 */
int pins_set_verified(struct pins *pins, uint64_t user_id,
		      const uint8_t key[IDENTITY_PUBLIC_LEN], bool verified);

/* Additive. Whether user_id's pin is key and marked verified. */
bool pins_verified(const struct pins *pins, uint64_t user_id,
		   const uint8_t key[IDENTITY_PUBLIC_LEN]);

/* Number of pins held, and whether some are not saved yet. */
size_t pins_count(const struct pins *pins);
bool pins_dirty(const struct pins *pins);

/*
 * Writes the store to its file atomically as described above (creating the parent
 * directory with mode 0700 if missing), even when nothing changed. Returns 0 or a
 * negative errno; on failure the old file is untouched.
 */
int pins_save(struct pins *pins);

#endif
