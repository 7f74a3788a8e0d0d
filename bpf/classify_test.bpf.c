// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel copy of zdd_classify(), runnable on demand: tests/drainmon/classify_test.cpp runs
 * one table of inputs through it (bpf_prog_test_run_opts with ctx_in/ctx_out) and through the
 * userspace copy, and requires identical verdicts.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "drainmon.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("syscall")
int zdd_cls_test(struct zdd_classify_ctx* ctx) {
    /* Copy to the stack: the classifier reads plain memory, as it does in the iterator. */
    struct zdd_classify_input in = ctx->in;
    struct zdd_thresholds t = ctx->thresholds;
    ctx->verdict = zdd_classify(&in, &t);
    return 0;
}
