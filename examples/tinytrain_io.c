/*
 * tinytrain_io.c - tinytrain's files (SPEC.md 11.4): loading weights and
 * momentum from safetensors files with the model's exact names, dtype and
 * shapes, writing checkpoint files, and escaping paths for error lines.
 * Shared by tinytrain and the attack generators of tests/attacks/.
 */
#include "tinytrain_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *tt_progname = "tinytrain";

const char *tt_esc(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch >= 0x7f)
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    buf[n] = '\0';
    return buf;
}

int tt_matches(const char *name, const char *prefix)
{
    return !prefix || strncmp(name, prefix, strlen(prefix)) == 0;
}

/*
 * Loads the parameters (opt = 0: names as the model's) or the momentum
 * buffers (opt = 1: opt.<param>.momentum) from a safetensors file into
 * block. Without a prefix the file must hold exactly the 9 tensors; with one,
 * only the matching tensors are read and must be present. Dtype F32 and the
 * model's shapes, always. 0 or -1 after one error line naming flag and file.
 */
int tt_load_tensors(tt_model *md, float *const *block, int opt, const char *path,
                    const char *prefix, const char *flag)
{
    char err[SP_ERRMSG_MAX] = "", e[512], e2[SP_ERRMSG_MAX + 32];
    sp_st_file *f = NULL;
    int rc = sp_st_open(&f, path, err);
    if (rc != SP_OK) {
        fprintf(stderr, "%s: %s %s: cannot load: %s\n", tt_progname, flag,
                tt_esc(e, sizeof e, path), tt_esc(e2, sizeof e2, err[0] ? err : sp_strerror(rc)));
        return -1;
    }
    if (!prefix && sp_st_count(f) != TT_NPARAMS) {
        fprintf(stderr, "%s: %s %s: holds %zu tensors, the model has %d\n", tt_progname, flag,
                tt_esc(e, sizeof e, path), sp_st_count(f), TT_NPARAMS);
        sp_st_close(f);
        return -1;
    }
    for (int i = 0; i < TT_NPARAMS; i++) {
        if (!tt_matches(TT_PARAMS[i].name, prefix))
            continue;
        const char *name = opt ? TT_PARAMS[i].opt_name : TT_PARAMS[i].name;
        const sp_tensor *t = sp_st_find(f, name);
        sp_tensor want = tt_describe(md, block, i, name);
        if (!t || t->dtype != SP_DTYPE_F32 || t->ndim != want.ndim
            || t->shape[0] != want.shape[0] || (want.ndim == 2 && t->shape[1] != want.shape[1])
            || t->nbytes != want.nbytes) {
            char shape[48];
            if (want.ndim == 2)
                snprintf(shape, sizeof shape, "[%" PRIu64 ", %" PRIu64 "]",
                         want.shape[0], want.shape[1]);
            else
                snprintf(shape, sizeof shape, "[%" PRIu64 "]", want.shape[0]);
            fprintf(stderr, "%s: %s %s: tensor %s is %s; the model wants F32 %s\n",
                    tt_progname, flag, tt_esc(e, sizeof e, path), name,
                    t ? "of another dtype or shape" : "missing", shape);
            sp_st_close(f);
            return -1;
        }
        memcpy(block[i], t->data, t->nbytes);
    }
    sp_st_close(f);
    return 0;
}

/*
 * Writes DIR/NAME.safetensors (weights, and the momentum to
 * DIR/NAME.opt.safetensors when opt is set). 0 or -1 after an error line.
 */
int tt_write_files(const char *out, const char *name, uint64_t step,
                   const sp_tensor *w, const sp_tensor *opt)
{
    char path[4096], stepstr[32], e[512];
    snprintf(stepstr, sizeof stepstr, "%" PRIu64, step);
    const char *meta[] = { "scratchproof.step", stepstr, "scratchproof.model", "tinytrain" };
    for (int k = 0; k < (opt ? 2 : 1); k++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s%s.safetensors", out, name,
                             k ? ".opt" : "") >= sizeof path) {
            fprintf(stderr, "%s: output path too long\n", tt_progname);
            return -1;
        }
        int rc = sp_st_write(path, k ? opt : w, TT_NPARAMS, meta, 2);
        if (rc != SP_OK) {
            fprintf(stderr, "%s: cannot write %s: %s\n", tt_progname,
                    tt_esc(e, sizeof e, path), sp_strerror(rc));
            return -1;
        }
    }
    return 0;
}

