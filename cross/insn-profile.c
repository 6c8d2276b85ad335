/* QEMU TCG plugin (API v1, QEMU 7.2): guest instructions executed per translation block, written
   as "start-address instructions-per-block total-instructions" lines to $TBPROF_OUT at exit.
   cross/profile-insns maps the addresses to functions. Declarations as in
   ../shared/tools/qemu-insncount/insncount.c (Debian ships no qemu-plugin.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);
__attribute__((visibility("default"))) int qemu_plugin_version = PLUGIN_API_VERSION;
#define N (1u << 22)
static uint64_t keys[N], counts[N], ninsn[N];
static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    uint64_t a = qemu_plugin_tb_vaddr(tb);
    uint64_t n = qemu_plugin_tb_n_insns(tb);
    uint32_t h = (uint32_t)((a * 0x9E3779B97F4A7C15ull) >> 42) & (N - 1);
    while (keys[h] && (keys[h] != a || ninsn[h] != n)) h = (h + 1) & (N - 1);
    keys[h] = a; ninsn[h] = n;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[h], n);
}
static void at_exit(qemu_plugin_id_t id, void *u) {
    const char *p = getenv("TBPROF_OUT");
    FILE *f = fopen(p ? p : "/tmp/tbprof.txt", "w");
    for (uint32_t i = 0; i < N; i++) if (counts[i]) fprintf(f, "%llx %llu %llu\n", (unsigned long long)keys[i], (unsigned long long)ninsn[i], (unsigned long long)counts[i]);
    fclose(f);
}
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
