/* world.h — the "chapter world": a seeded synthetic corpus whose structure Word2Vec can learn (ember's default data).
 *
 * Sentences, one per line, lowercase, words separated by single spaces, built from templates so
 * that the chapter's claims can emerge from training:
 *
 *   - Categories: animals, vehicles, foods, colours. Each category's words appear with that
 *     category's own context words (animals: fed, zoo, fur, ...; vehicles: drove, engine, road,
 *     ...) and never with another category's, so the categories form clusters.
 *   - People: king queen prince princess man woman boy girl. Each is the product of three
 *     features, and each feature has its own context words, used consistently:
 *         gender  male: he his him          female: she her herself
 *         rank    royal: ruled throne crown palace ...   common: worked farm village market ...
 *         age     adult: old wise married ...            young: young little played school ...
 *     king = male+royal+adult, queen = female+royal+adult, man = male+common+adult, ...
 *     A word's contexts are the union of its features' contexts, so the vector offsets of a
 *     feature are shared: king - man + woman ≈ queen, prince - boy + girl ≈ princess.
 *   - Countries and capitals: 12 (country, capital, adjective) triples. A capital appears with its
 *     country's adjective and city words (city, mayor, streets), a country with the same adjective
 *     and nation words (nation, border, government), and "<capital> is the capital of <country>",
 *     so paris - france + germany ≈ berlin.
 *
 * Mix per sentence: people 30%, countries 20%, each of the four categories 12.5%.
 * Deterministic for a seed (base_rng); ~31 bytes per sentence; ~300 MB/s (9.4 MB in 0.03 s).
 */
#ifndef EMBER_DATA_WORLD_H
#define EMBER_DATA_WORLD_H

#include <stddef.h>
#include <stdint.h>

/* A word group for evaluation (clusters) and tests (co-occurrence structure). */
typedef struct data_world_group {
    const char *name;            /* "animals", "vehicles", "foods", "colours", "people", "countries", "capitals" */
    const char *const *words;    /* [n_words] the members */
    int n_words;
    const char *const *contexts; /* [n_contexts] context words only this group's sentences use */
    int n_contexts;
} data_world_group;

/* The groups (static storage); returns their number. */
int data_world_groups(const data_world_group **out);

/* Built-in analogy questions a : b :: c : d (e.g. man king woman queen), static; returns the count. */
int data_world_analogies(const char *const (**out)[4]);

/* Generates n_sentences sentences from seed into *text (heap, NUL-terminated, caller frees; *len
 * bytes without the NUL). Returns 0, or -1 with an error for n_sentences < 0. */
int data_world_generate(uint64_t seed, int64_t n_sentences, char **text, size_t *len);

/* Same, written to path. Returns 0, or -1 with an error naming the file. */
int data_world_write(const char *path, uint64_t seed, int64_t n_sentences);

#endif
