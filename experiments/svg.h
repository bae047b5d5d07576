/* svg.h — a small SVG writer for labelled 2-D scatter plots (the demo's picture of word clusters). */
#ifndef EMBER_EXPERIMENTS_SVG_H
#define EMBER_EXPERIMENTS_SVG_H

#include <stdint.h>
#include <stdio.h>

typedef struct exp_svg_point {
    float x, y;          /* data coordinates (any scale: the plot fits them) */
    const char *label;   /* text beside the point (XML-escaped on output), or NULL */
    int group;           /* colour / legend entry, 0..ngroups-1 */
} exp_svg_point;

typedef struct exp_svg_plot {
    const char *title;            /* large text at the top */
    const char *subtitle;         /* smaller line under it, or NULL */
    const char *footnote;         /* small grey line under the plot area, or NULL */
    const char *const *group_names; /* [ngroups] legend entries */
    int ngroups;
    int width, height;            /* pixels (0: 900 × 680) */
} exp_svg_plot;

/* Writes a scatter plot: one coloured dot per point (a colour-blind-safe palette cycled by group),
 * its label placed beside it where it overlaps the fewest earlier labels, a legend and a title.
 * Writes "<path>.tmp" then renames it over path. Returns 0 or -1 with an error. */
int exp_svg_scatter(const char *path, const exp_svg_plot *plot, const exp_svg_point *pts, int64_t n);

/* Writes s with &, <, >, " escaped and control characters (not allowed in XML 1.0) as '?': for
 * SVG and HTML text and attribute values. NULL writes nothing. */
void exp_xml_escape(FILE *f, const char *s);
/* The palette colour of group g ("#rrggbb", static). */
const char *exp_svg_color(int g);

#endif
