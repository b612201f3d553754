/* ProcessPrng for wine 8, which has no bcryptprimitives.dll: Rust's standard
 * library (1.78 and later) takes its randomness from it on Windows, so without
 * it no Rust test program starts. Windows itself has had the DLL since 8.
 * scripts/cross.sh builds this into the throwaway wine prefix only; it
 * forwards to RtlGenRandom (advapi32's SystemFunction036), which wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk;
    length -= chunk;
  }
  return TRUE;
}
