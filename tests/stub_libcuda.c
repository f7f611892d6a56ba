// A stand-in libcuda.so.1 for tests/test_runtime_stub_driver.py: runs the GPU code path of tritongrad's runtime
// (every cuda-bindings call it makes, with the argument types it passes) on a machine without a GPU. Not a GPU:
// "device" memory is host memory (so copies and memsets are real), streams, events and graphs are counters,
// every function not listed returns CUDA_SUCCESS and writes nothing. cuda-bindings looks up each driver
// function through cuGetProcAddress_v2, which is all this library exports.
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
typedef int CUresult;
static long handles = 0x1000;
long stub_streams_alive = 0, stub_frees = 0, stub_allocs = 0, stub_waits = 0, stub_launches = 0, stub_ctx_sets = 0;
int stub_busy = 0;   /* while set, cuEventQuery/cuStreamQuery answer CUDA_ERROR_NOT_READY (600) */
static int ret0(void) { return 0; }
static CUresult cuInit(unsigned f) { return 0; }
static CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
static CUresult cuDeviceGetCount(int *c) { *c = 1; return 0; }
static CUresult cuDeviceGet(int *d, int o) { *d = o; return 0; }
static CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void*)0x77; return 0; }
static CUresult cuDeviceGetAttribute(int *v, int attr, int d) { *v = attr == 75 ? 9 : attr == 76 ? 0 : 1; return 0; }
static CUresult cuDeviceGetDefaultMemPool(void **p, int d) { *p = (void*)0x88; return 0; }
static CUresult cuMemPoolSetAttribute(void *p, int attr, void *v) { return 0; }
static CUresult cuMemPoolGetAttribute(void *p, int attr, void *v) { *(uint64_t*)v = 12345; return 0; }
static CUresult cuDeviceGetName(char *n, int len, int d) { strncpy(n, "Stub H200", len); return 0; }
static CUresult cuDeviceTotalMem(size_t *b, int d) { *b = (size_t)1 << 37; return 0; }
static CUresult cuMemGetInfo(size_t *f, size_t *t) { *f = (size_t)1 << 36; *t = (size_t)1 << 37; return 0; }
static CUresult cuMemAllocFromPoolAsync(uint64_t *p, size_t n, void *pool, void *s) {
    if (n > ((size_t)1 << 40)) return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    *p = (uint64_t)aligned_alloc(256, (n + 255) / 256 * 256); stub_allocs++; return 0; }
static CUresult cuMemFreeAsync(uint64_t p, void *s) { free((void*)p); stub_frees++; return 0; }
static CUresult cuMemHostAlloc(void **p, size_t n, unsigned f) { *p = malloc(n); return 0; }
static CUresult cuMemFreeHost(void *p) { free(p); return 0; }
static CUresult cuMemHostGetDevicePointer(uint64_t *d, void *p, unsigned f) { *d = (uint64_t)p; return 0; }
static CUresult cuStreamCreateWithPriority(void **s, unsigned f, int pr) { *s = (void*)(handles++); stub_streams_alive++; return 0; }
static CUresult cuStreamDestroy(void *s) { stub_streams_alive--; return 0; }
static CUresult cuEventCreate(void **e, unsigned f) { *e = (void*)(handles++); return 0; }
static CUresult cuEventElapsedTime(float *ms, void *a, void *b) { *ms = 1.5f; return 0; }
static CUresult cuStreamWaitEvent(void *s, void *e, unsigned f) { stub_waits++; return 0; }
static CUresult cuStreamEndCapture(void *s, void **g) { *g = (void*)(handles++); return 0; }
static CUresult cuGraphInstantiate(void **x, void *g, unsigned long long f) { *x = (void*)(handles++); return 0; }
static CUresult cuMemcpyHtoDAsync(uint64_t d, const void *s, size_t n, void *st) { memcpy((void*)d, s, n); return 0; }
static CUresult cuMemcpyDtoHAsync(void *d, uint64_t s, size_t n, void *st) { memcpy(d, (void*)s, n); return 0; }
static CUresult cuMemcpyDtoDAsync(uint64_t d, uint64_t s, size_t n, void *st) { memmove((void*)d, (void*)s, n); return 0; }
static CUresult cuMemsetD8Async(uint64_t d, unsigned char v, size_t n, void *st) { memset((void*)d, v, n); return 0; }
static CUresult cuEventQuery(void *e) { return stub_busy ? 600 : 0; }
static CUresult cuStreamQuery(void *s) { return stub_busy ? 600 : 0; }
static CUresult cuCtxSetCurrent(void *c) { stub_ctx_sets++; return 0; }
static CUresult cuGraphLaunch(void *x, void *s) { stub_launches++; return 0; }
static CUresult cuGetErrorString(int e, const char **s) { *s = "stub error"; return 0; }
static CUresult cuGetErrorName(int e, const char **s) { *s = "STUB_ERROR"; return 0; }
#define E(name) {#name, (void*)name}
static struct { const char *n; void *f; } table[] = {
  E(cuInit), E(cuDriverGetVersion), E(cuDeviceGetCount), E(cuDeviceGet), E(cuDevicePrimaryCtxRetain),
  E(cuDeviceGetAttribute), E(cuDeviceGetDefaultMemPool), E(cuMemPoolSetAttribute), E(cuMemPoolGetAttribute),
  E(cuDeviceGetName), E(cuDeviceTotalMem), E(cuMemGetInfo), E(cuMemAllocFromPoolAsync), E(cuMemFreeAsync),
  E(cuMemHostAlloc), E(cuMemFreeHost), E(cuMemHostGetDevicePointer), E(cuStreamCreateWithPriority),
  E(cuStreamDestroy), E(cuEventCreate), E(cuEventElapsedTime), E(cuStreamWaitEvent), E(cuStreamEndCapture),
  E(cuGraphInstantiate), E(cuMemcpyHtoDAsync), E(cuMemcpyDtoHAsync), E(cuMemcpyDtoDAsync), E(cuMemsetD8Async),
  E(cuEventQuery), E(cuStreamQuery), E(cuCtxSetCurrent), E(cuGraphLaunch), E(cuGetErrorString), E(cuGetErrorName), {0, 0}};
CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, uint64_t flags, int *status) {
    if (status) *status = 0;
    for (int i = 0; table[i].n; i++) if (!strcmp(table[i].n, sym)) { *pfn = table[i].f; return 0; }
    *pfn = (void*)ret0; return 0;
}
CUresult cuGetProcAddress(const char *sym, void **pfn, int ver, uint64_t flags) { return cuGetProcAddress_v2(sym, pfn, ver, flags, 0); }
