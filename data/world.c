/* world.c — the chapter world: templates over categories, people (gender × rank × age) and countries/capitals. */
#include "world.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- word lists (each context word belongs to exactly one group) --------------------------------- */

static const char *const k_animals[] = {"cat", "dog", "kitten", "puppy", "horse", "cow",
                                        "rabbit", "mouse", "sheep", "lion", "tiger", "bird"};
static const char *const k_an_verb[] = {"fed", "petted", "chased", "tamed"};
static const char *const k_an_place[] = {"zoo", "forest", "meadow", "barn"};
static const char *const k_an_part[] = {"fur", "tail", "paws", "whiskers"};
static const char *const k_an_adj[] = {"furry", "wild", "hungry", "cute"};
static const char *const k_an_ctx[] = {"fed",  "petted", "chased", "tamed", "zoo",   "forest", "meadow", "barn", "fur",
                                       "tail", "paws",   "whiskers", "furry", "wild", "hungry", "cute",   "animal"};

static const char *const k_vehicles[] = {"car", "bike", "truck", "train", "bus", "plane",
                                         "boat", "van", "tractor", "motorcycle", "scooter", "taxi"};
static const char *const k_ve_verb[] = {"drove", "rode", "parked", "repaired"};
static const char *const k_ve_place[] = {"road", "garage", "station", "highway"};
static const char *const k_ve_part[] = {"engine", "wheels", "brakes", "seats"};
static const char *const k_ve_adj[] = {"fast", "noisy", "heavy", "electric"};
static const char *const k_ve_ctx[] = {"drove",  "rode",   "parked", "repaired", "road",  "garage", "station",
                                       "highway", "engine", "wheels", "brakes",   "seats", "fast",   "noisy",
                                       "heavy",  "electric", "vehicle"};

static const char *const k_foods[] = {"pizza", "pasta", "sandwich", "burger", "salad", "soup",
                                      "bread", "cheese", "cake", "rice", "apple", "noodles"};
static const char *const k_fo_verb[] = {"ate", "baked", "tasted", "served"};
static const char *const k_fo_place[] = {"kitchen", "restaurant", "cafe", "bakery"};
static const char *const k_fo_meal[] = {"dinner", "lunch", "breakfast", "plate"};
static const char *const k_fo_adj[] = {"delicious", "tasty", "fresh", "spicy"};
static const char *const k_fo_ctx[] = {"ate",    "baked",     "tasted", "served",    "kitchen", "restaurant",
                                       "cafe",   "bakery",    "dinner", "lunch",     "breakfast", "plate",
                                       "delicious", "tasty",  "fresh",  "spicy",     "food"};

static const char *const k_colours[] = {"red", "blue", "green", "yellow", "orange", "purple",
                                        "pink", "brown", "black", "white", "grey", "violet"};
static const char *const k_co_verb[] = {"painted", "dyed", "coloured"};
static const char *const k_co_noun[] = {"shade", "paint", "tone", "hue"};
static const char *const k_co_adj[] = {"bright", "dark", "pale", "deep"};
static const char *const k_co_ctx[] = {"painted", "dyed", "coloured", "shade", "paint", "tone",
                                       "hue",     "bright", "dark",   "pale",  "deep",  "colour"};

/* People: index = gender (0 male, 1 female) + 2·rank (0 common, 1 royal) + 4·age (0 adult, 1 young). */
static const char *const k_people[8] = {"man", "woman", "king", "queen", "boy", "girl", "prince", "princess"};
static const char *const k_pron[2] = {"he", "she"};
static const char *const k_poss[2] = {"his", "her"};
static const char *const k_obj[2] = {"him", "her"};
static const char *const k_refl[2] = {"himself", "herself"};
static const char *const k_rank_verb[2][4] = {{"worked", "laboured", "traded", "farmed"},
                                              {"ruled", "reigned", "governed", "commanded"}};
static const char *const k_rank_place[2][6] = {{"farm", "village", "market", "cottage", "shop", "mill"},
                                               {"kingdom", "throne", "palace", "castle", "court", "crown"}};
static const char *const k_age_adj[2][4] = {{"old", "wise", "tall", "married"}, {"young", "little", "small", "playful"}};
static const char *const k_age_verb[2][4] = {{"read", "wrote", "travelled", "spoke"},
                                             {"played", "laughed", "giggled", "learned"}};

static const char *const k_male[] = {"man", "king", "boy", "prince"};
static const char *const k_female[] = {"woman", "queen", "girl", "princess"};
static const char *const k_common[] = {"man", "woman", "boy", "girl"};
static const char *const k_royal[] = {"king", "queen", "prince", "princess"};
static const char *const k_adult[] = {"man", "woman", "king", "queen"};
static const char *const k_young[] = {"boy", "girl", "prince", "princess"};
static const char *const k_male_ctx[] = {"he", "his", "him", "himself"};
static const char *const k_female_ctx[] = {"she", "her", "herself"};
static const char *const k_common_ctx[] = {"worked", "laboured", "traded", "farmed", "farm", "village",
                                           "market", "cottage",  "shop",   "mill"};
static const char *const k_royal_ctx[] = {"ruled",  "reigned", "governed", "commanded", "kingdom",
                                          "throne", "palace",  "castle",   "court",     "crown"};
static const char *const k_adult_ctx[] = {"old", "wise", "tall", "married", "read", "wrote", "travelled", "spoke"};
static const char *const k_young_ctx[] = {"young", "little", "small", "playful", "played", "laughed", "giggled", "learned"};
static const char *const k_people_ctx[] = {"he",       "his",     "him",    "himself", "she",     "her",      "herself",
                                           "worked",   "laboured", "traded", "farmed",  "farm",    "village",  "market",
                                           "cottage",  "shop",    "mill",   "ruled",   "reigned", "governed", "commanded",
                                           "kingdom",  "throne",  "palace", "castle",  "court",   "crown",    "old",
                                           "wise",     "tall",    "married", "read",   "wrote",   "travelled", "spoke",
                                           "young",    "little",  "small",  "playful", "played",  "laughed",  "giggled",
                                           "learned"};

static const char *const k_countries[] = {"france", "germany", "italy",  "spain",  "japan",    "china",
                                          "russia", "egypt",   "greece", "portugal", "poland", "sweden"};
static const char *const k_capitals[] = {"paris",  "berlin", "rome",   "madrid", "tokyo",  "beijing",
                                         "moscow", "cairo",  "athens", "lisbon", "warsaw", "stockholm"};
static const char *const k_nat_adj[] = {"french",  "german",   "italian", "spanish",    "japanese", "chinese",
                                        "russian", "egyptian", "greek",   "portuguese", "polish",   "swedish"};
static const char *const k_country_ctx[] = {"nation", "border", "government", "citizens", "elected"};
static const char *const k_capital_ctx[] = {"city", "mayor", "streets", "downtown", "metro"};

static const data_world_group k_groups[] = {
    {"animals", k_animals, N(k_animals), k_an_ctx, N(k_an_ctx)},
    {"vehicles", k_vehicles, N(k_vehicles), k_ve_ctx, N(k_ve_ctx)},
    {"foods", k_foods, N(k_foods), k_fo_ctx, N(k_fo_ctx)},
    {"colours", k_colours, N(k_colours), k_co_ctx, N(k_co_ctx)},
    {"people", k_people, N(k_people), k_people_ctx, N(k_people_ctx)},
    {"countries", k_countries, N(k_countries), k_country_ctx, N(k_country_ctx)},
    {"capitals", k_capitals, N(k_capitals), k_capital_ctx, N(k_capital_ctx)},
    {"male", k_male, N(k_male), k_male_ctx, N(k_male_ctx)},
    {"female", k_female, N(k_female), k_female_ctx, N(k_female_ctx)},
    {"common", k_common, N(k_common), k_common_ctx, N(k_common_ctx)},
    {"royal", k_royal, N(k_royal), k_royal_ctx, N(k_royal_ctx)},
    {"adult", k_adult, N(k_adult), k_adult_ctx, N(k_adult_ctx)},
    {"young", k_young, N(k_young), k_young_ctx, N(k_young_ctx)},
};

int data_world_groups(const data_world_group **out) {
    *out = k_groups;
    return N(k_groups);
}

static const char *const k_analogies[][4] = {
    {"man", "king", "woman", "queen"},       {"man", "woman", "king", "queen"},
    {"boy", "prince", "girl", "princess"},   {"boy", "girl", "prince", "princess"},
    {"man", "boy", "woman", "girl"},         {"king", "prince", "queen", "princess"},
    {"france", "paris", "germany", "berlin"}, {"italy", "rome", "spain", "madrid"},
    {"japan", "tokyo", "china", "beijing"},  {"russia", "moscow", "egypt", "cairo"},
    {"greece", "athens", "portugal", "lisbon"}, {"poland", "warsaw", "sweden", "stockholm"},
    {"germany", "berlin", "france", "paris"}, {"spain", "madrid", "japan", "tokyo"},
};

int data_world_analogies(const char *const (**out)[4]) {
    *out = k_analogies;
    return N(k_analogies);
}

/* ---- generation ------------------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
    base_rng rng;
} gen;

static inline void put(gen *g, const char *w) {
    size_t l = strlen(w);
    if (g->n + l + 2 > g->cap) {
        g->cap = (g->n + l + 2) * 2;
        g->s = base_xrealloc(g->s, g->cap);
    }
    memcpy(g->s + g->n, w, l);
    g->n += l;
    g->s[g->n++] = ' ';
}
static inline void end_sentence(gen *g) { g->s[g->n - 1] = '\n'; } /* the last word's space becomes \n */
#define PICK(g, arr) ((arr)[base_rng_below(&(g)->rng, (uint32_t)N(arr))])

static void sent_person(gen *g) {
    int p = (int)base_rng_below(&g->rng, 8);
    int gd = p & 1, rk = (p >> 1) & 1, ag = (p >> 2) & 1;
    const char *P = k_people[p];
    switch (base_rng_below(&g->rng, 8)) {
    case 0: put(g, "the"); put(g, P); put(g, PICK(g, k_rank_verb[rk])); put(g, "the"); put(g, PICK(g, k_rank_place[rk])); break;
    case 1: put(g, k_pron[gd]); put(g, "is"); put(g, "a"); put(g, P); break;
    case 2: put(g, "the"); put(g, PICK(g, k_age_adj[ag])); put(g, P); put(g, PICK(g, k_age_verb[ag])); put(g, "with"); put(g, k_poss[gd]); put(g, "friends"); break;
    case 3: put(g, "the"); put(g, P); put(g, "lived"); put(g, "in"); put(g, "the"); put(g, PICK(g, k_rank_place[rk])); put(g, "and"); put(g, k_pron[gd]); put(g, PICK(g, k_age_verb[ag])); break;
    case 4: put(g, "everyone"); put(g, "greeted"); put(g, "the"); put(g, P); put(g, "and"); put(g, "thanked"); put(g, k_obj[gd]); break;
    case 5: put(g, "the"); put(g, P); put(g, "sat"); put(g, "in"); put(g, k_poss[gd]); put(g, PICK(g, k_rank_place[rk])); break;
    case 6: put(g, "the"); put(g, PICK(g, k_age_adj[ag])); put(g, P); put(g, PICK(g, k_rank_verb[rk])); put(g, "by"); put(g, k_refl[gd]); break;
    default: put(g, k_pron[gd]); put(g, "was"); put(g, "the"); put(g, PICK(g, k_age_adj[ag])); put(g, P); put(g, "of"); put(g, "the"); put(g, PICK(g, k_rank_place[rk])); break;
    }
    end_sentence(g);
}

static void sent_animal(gen *g) {
    const char *A = PICK(g, k_animals);
    switch (base_rng_below(&g->rng, 5)) {
    case 0: put(g, "the"); put(g, A); put(g, "ran"); put(g, "into"); put(g, "the"); put(g, PICK(g, k_an_place)); break;
    case 1: put(g, "we"); put(g, PICK(g, k_an_verb)); put(g, "the"); put(g, PICK(g, k_an_adj)); put(g, A); break;
    case 2: put(g, "the"); put(g, A); put(g, "has"); put(g, "soft"); put(g, PICK(g, k_an_part)); break;
    case 3: put(g, "a"); put(g, A); put(g, "is"); put(g, "an"); put(g, "animal"); break;
    default: put(g, "the"); put(g, PICK(g, k_an_adj)); put(g, A); put(g, "slept"); put(g, "in"); put(g, "the"); put(g, PICK(g, k_an_place)); break;
    }
    end_sentence(g);
}

static void sent_vehicle(gen *g) {
    const char *V = PICK(g, k_vehicles);
    switch (base_rng_below(&g->rng, 5)) {
    case 0: put(g, "the"); put(g, V); put(g, "went"); put(g, "down"); put(g, "the"); put(g, PICK(g, k_ve_place)); break;
    case 1: put(g, "we"); put(g, PICK(g, k_ve_verb)); put(g, "the"); put(g, PICK(g, k_ve_adj)); put(g, V); break;
    case 2: put(g, "the"); put(g, V); put(g, "needs"); put(g, "new"); put(g, PICK(g, k_ve_part)); break;
    case 3: put(g, "a"); put(g, V); put(g, "is"); put(g, "a"); put(g, "vehicle"); break;
    default: put(g, "the"); put(g, PICK(g, k_ve_adj)); put(g, V); put(g, "waited"); put(g, "at"); put(g, "the"); put(g, PICK(g, k_ve_place)); break;
    }
    end_sentence(g);
}

static void sent_food(gen *g) {
    const char *F = PICK(g, k_foods);
    switch (base_rng_below(&g->rng, 5)) {
    case 0: put(g, "we"); put(g, PICK(g, k_fo_verb)); put(g, "the"); put(g, PICK(g, k_fo_adj)); put(g, F); break;
    case 1: put(g, "the"); put(g, F); put(g, "was"); put(g, "ready"); put(g, "for"); put(g, PICK(g, k_fo_meal)); break;
    case 2: put(g, "the"); put(g, PICK(g, k_fo_adj)); put(g, F); put(g, "came"); put(g, "from"); put(g, "the"); put(g, PICK(g, k_fo_place)); break;
    case 3: put(g, "a"); put(g, F); put(g, "is"); put(g, "a"); put(g, "food"); break;
    default: put(g, "we"); put(g, PICK(g, k_fo_verb)); put(g, F); put(g, "in"); put(g, "the"); put(g, PICK(g, k_fo_place)); break;
    }
    end_sentence(g);
}

static void sent_colour(gen *g) {
    const char *C = PICK(g, k_colours);
    switch (base_rng_below(&g->rng, 5)) {
    case 0: put(g, "the"); put(g, "wall"); put(g, "was"); put(g, PICK(g, k_co_verb)); put(g, C); break;
    case 1: put(g, C); put(g, "is"); put(g, "a"); put(g, PICK(g, k_co_adj)); put(g, "colour"); break;
    case 2: put(g, "a"); put(g, PICK(g, k_co_adj)); put(g, PICK(g, k_co_noun)); put(g, "of"); put(g, C); break;
    case 3: put(g, "they"); put(g, PICK(g, k_co_verb)); put(g, "the"); put(g, "cloth"); put(g, C); break;
    default: put(g, "the"); put(g, C); put(g, PICK(g, k_co_noun)); put(g, "looked"); put(g, PICK(g, k_co_adj)); break;
    }
    end_sentence(g);
}

static void sent_country(gen *g) {
    int c = (int)base_rng_below(&g->rng, (uint32_t)N(k_countries));
    const char *CO = k_countries[c], *CAP = k_capitals[c], *ADJ = k_nat_adj[c];
    switch (base_rng_below(&g->rng, 7)) {
    case 0: put(g, CAP); put(g, "is"); put(g, "the"); put(g, "capital"); put(g, "of"); put(g, CO); break;
    case 1: put(g, "the"); put(g, ADJ); put(g, "nation"); put(g, "of"); put(g, CO); put(g, "has"); put(g, "a"); put(g, "long"); put(g, "border"); break;
    case 2: put(g, "the"); put(g, ADJ); put(g, "citizens"); put(g, "of"); put(g, CO); put(g, "elected"); put(g, "a"); put(g, "government"); break;
    case 3: put(g, CAP); put(g, "is"); put(g, "a"); put(g, ADJ); put(g, "city"); break;
    case 4: put(g, "the"); put(g, "mayor"); put(g, "of"); put(g, CAP); put(g, "walked"); put(g, "the"); put(g, ADJ); put(g, "streets"); break;
    case 5: put(g, "downtown"); put(g, CAP); put(g, "has"); put(g, "a"); put(g, ADJ); put(g, "metro"); break;
    default: put(g, CO); put(g, "is"); put(g, "a"); put(g, ADJ); put(g, "nation"); break;
    }
    end_sentence(g);
}

int data_world_generate(uint64_t seed, int64_t n_sentences, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    if (n_sentences < 0) return base_error_set("world: expected a number of sentences >= 0, got %lld", (long long)n_sentences);
    gen g = {0};
    g.cap = (size_t)(n_sentences < (1 << 22) ? n_sentences : (1 << 22)) * 40 + 64; /* grows as needed */
    g.s = base_xmalloc(g.cap);
    base_rng_seed(&g.rng, seed);
    for (int64_t i = 0; i < n_sentences; i++) {
        uint32_t r = base_rng_below(&g.rng, 1000); /* mix: people 30%, countries 20%, 12.5% each category */
        if (r < 300) sent_person(&g);
        else if (r < 500) sent_country(&g);
        else if (r < 625) sent_animal(&g);
        else if (r < 750) sent_vehicle(&g);
        else if (r < 875) sent_food(&g);
        else sent_colour(&g);
    }
    g.s[g.n] = '\0';
    *text = g.s;
    *len = g.n;
    return 0;
}

int data_world_write(const char *path, uint64_t seed, int64_t n_sentences) {
    char *t;
    size_t n;
    if (data_world_generate(seed, n_sentences, &t, &n) != 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(t);
        return base_error_set("%s: cannot write the world corpus: %s", path, strerror(errno));
    }
    size_t w = fwrite(t, 1, n, f);
    int bad = (w != n) | ferror(f);
    if (fclose(f) != 0) bad = 1;
    free(t);
    if (bad) return base_error_set("%s: write failed: %s", path, strerror(errno));
    return 0;
}
