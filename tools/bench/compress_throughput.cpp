// tools/bench/compress_throughput.cpp — the compression library's own single-thread throughput
// on one body, as the yardstick for compression through edged (S3): compress the body as one
// stream per iteration, the way a proxy compresses one response, for about `seconds`.
// usage: compress_throughput FILE gzip|br LEVEL SECONDS  ->  prints input MB/s and output bytes
#include <brotli/encode.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

static size_t gzipOnce(const std::string& in, int level, std::vector<unsigned char>& out) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // gzip wrapper, as edged
  out.resize(deflateBound(&z, in.size()) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  const size_t n = out.size() - z.avail_out;
  deflateEnd(&z);
  return n;
}

static size_t brotliOnce(const std::string& in, int level, std::vector<unsigned char>& out) {
  out.resize(BrotliEncoderMaxCompressedSize(in.size()) + 64);
  size_t n = out.size();
  BrotliEncoderCompress(level, 18, BROTLI_MODE_TEXT, in.size(), reinterpret_cast<const uint8_t*>(in.data()), &n,
                        out.data());  // lgwin 18, as edged
  return n;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s FILE gzip|br LEVEL SECONDS\n", argv[0]);
    return 2;
  }
  std::ifstream f(argv[1], std::ios::binary);
  const std::string in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const bool gzip = std::strcmp(argv[2], "gzip") == 0;
  const int level = std::atoi(argv[3]);
  const double seconds = std::atof(argv[4]);
  std::vector<unsigned char> out;
  size_t iterations = 0, produced = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    produced = gzip ? gzipOnce(in, level, out) : brotliOnce(in, level, out);
    ++iterations;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  std::printf("%.1f %zu\n", static_cast<double>(in.size()) * iterations / elapsed / 1e6, produced);
  return 0;
}
