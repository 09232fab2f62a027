/* SPDX-License-Identifier: MIT */
#include "umc/mfmsg.h"

#include "umc/util.h"

enum {
        MF_FORMAT = 0,
        MF_MANIFEST_LEN = 1,
        MF_SIG_LEN = 5,
        MF_OFFSET = 9,
        MF_DATA = UMC_MFMSG_HEADER_LEN,
};

static bool format_valid(unsigned f) {
        return f == UMC_MFMSG_CMS || f == UMC_MFMSG_SM2;
}

static bool lengths_valid(uint64_t manifest_len, uint64_t sig_len) {
        return manifest_len >= 1 && manifest_len <= UMC_MFMSG_MANIFEST_MAX && sig_len >= 1 &&
               sig_len <= UMC_MFMSG_SIG_MAX;
}

bool umc_signed_manifest_valid(const struct umc_signed_manifest *m) {
        return m && m->manifest && m->sig && format_valid(m->format) &&
               lengths_valid(m->manifest_len, m->sig_len);
}

int umc_mfmsg_encode(const struct umc_signed_manifest *m, uint32_t offset, size_t max_data,
                     uint8_t *out, size_t out_size, size_t *ret_data_len) {
        size_t total, n, i;

        if (!umc_signed_manifest_valid(m) || !out || !ret_data_len)
                return -EINVAL;
        total = m->manifest_len + m->sig_len;
        if (offset >= total)
                return -EINVAL;
        n = total - offset;
        if (max_data < 1)
                max_data = 1;
        if (n > max_data)
                n = max_data;
        if (n > UMC_MFMSG_CHUNK_MAX)
                n = UMC_MFMSG_CHUNK_MAX;
        if (out_size < MF_DATA + n)
                return -ENOBUFS;
        out[MF_FORMAT] = (uint8_t)m->format;
        umc_put_be32(out + MF_MANIFEST_LEN, (uint32_t)m->manifest_len);
        umc_put_be32(out + MF_SIG_LEN, (uint32_t)m->sig_len);
        umc_put_be32(out + MF_OFFSET, offset);
        /* The chunk may straddle the end of the manifest and the start of the signature. */
        for (i = 0; i < n; i++) {
                size_t at = offset + i;
                out[MF_DATA + i] = at < m->manifest_len ? m->manifest[at]
                                                        : m->sig[at - m->manifest_len];
        }
        *ret_data_len = n;
        return (int)(MF_DATA + n);
}

int umc_mfmsg_decode(const uint8_t *buf, size_t len, struct umc_mfmsg *ret) {
        struct umc_mfmsg m = {};

        if (!buf || !ret)
                return -EINVAL;
        if (len <= MF_DATA || len - MF_DATA > UMC_MFMSG_CHUNK_MAX)
                return -EBADMSG;
        m.format = buf[MF_FORMAT];
        m.manifest_len = umc_get_be32(buf + MF_MANIFEST_LEN);
        m.sig_len = umc_get_be32(buf + MF_SIG_LEN);
        m.offset = umc_get_be32(buf + MF_OFFSET);
        m.data = buf + MF_DATA;
        m.data_len = len - MF_DATA;
        if (!format_valid(m.format) || !lengths_valid(m.manifest_len, m.sig_len))
                return -EBADMSG;
        /* 64-bit sums: the caps keep them small, but the check must not wrap either. */
        if ((uint64_t)m.offset + m.data_len > (uint64_t)m.manifest_len + m.sig_len)
                return -EBADMSG;
        *ret = m;
        return 0;
}

static int mfasm_first(struct umc_mfasm *a, const struct umc_mfmsg *m) {
        a->buf = malloc((size_t)m->manifest_len + m->sig_len);
        if (!a->buf)
                return -ENOMEM;
        a->format = m->format;
        a->manifest_len = m->manifest_len;
        a->sig_len = m->sig_len;
        a->got = 0;
        return 0;
}

int umc_mfasm_add(struct umc_mfasm *a, const struct umc_mfmsg *m, enum umc_reason *ret_reason) {
        int r;

        if (!a || !m || !ret_reason)
                return -EINVAL;
        if (a->buf && (m->format != a->format || m->manifest_len != a->manifest_len ||
                       m->sig_len != a->sig_len || umc_mfasm_complete(a))) {
                *ret_reason = UMC_REASON_BODY_MALFORMED;
                return -EBADMSG;
        }
        /* Checked before the first chunk allocates: a refused chunk changes nothing. */
        if (m->offset != a->got) {
                *ret_reason = UMC_REASON_OUT_OF_ORDER;
                return -EBADMSG;
        }
        if (!a->buf) {
                r = mfasm_first(a, m);
                if (r < 0)
                        return r;
        }
        /* decode() bounded offset + data_len by the total, which the first chunk fixed. */
        memcpy(a->buf + a->got, m->data, m->data_len);
        a->got += (uint32_t)m->data_len;
        return 0;
}

bool umc_mfasm_started(const struct umc_mfasm *a) {
        return a && a->buf;
}

bool umc_mfasm_complete(const struct umc_mfasm *a) {
        return a && a->buf && a->got == a->manifest_len + a->sig_len;
}

int umc_mfasm_view(const struct umc_mfasm *a, struct umc_signed_manifest *ret) {
        if (!umc_mfasm_complete(a) || !ret)
                return -ENODATA;
        *ret = (struct umc_signed_manifest){
                .format = (enum umc_mfmsg_format)a->format,
                .manifest = a->buf,
                .manifest_len = a->manifest_len,
                .sig = a->buf + a->manifest_len,
                .sig_len = a->sig_len,
        };
        return 0;
}

void umc_mfasm_reset(struct umc_mfasm *a) {
        if (!a)
                return;
        free(a->buf);
        *a = (struct umc_mfasm){};
}
