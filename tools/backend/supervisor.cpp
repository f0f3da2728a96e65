// tools/backend/supervisor.cpp — the parent process holds the port (bound, never listening, so
// the kernel hands connections only to the workers' sockets) and the shared metrics, forks the
// workers, and restarts one that dies, at most once per 200 ms per slot.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "tools/backend/backend.h"
#include "tools/backend/worker.h"

namespace edged::backend {

namespace {

uint64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

pid_t spawn(const BackendOptions& options, SharedMetrics& metrics, size_t slot, int port, int held_fd, const sigset_t& old_mask) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  ::close(held_fd);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  int code;
  {
    Worker worker(options, metrics, slot);
    code = worker.run(port);
  }
  std::fflush(stderr);
  std::exit(code);  // not _exit: the sanitizers' leak check runs at exit
}

}  // namespace

int runSupervisor(const BackendOptions& options) {
  std::string error;
  if (!migrate(options.db.primary_dsn, 30000, error)) {
    std::fprintf(stderr, "backend: [error] schema: %s\n", error.c_str());
    return 1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "backend: [error] --listen: %s is not an IPv4 address\n", options.host.c_str());
    return 1;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("backend: [error] bind");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  unsigned processes = options.processes;
  if (processes == 0) processes = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
  if (processes == 0) processes = 1;
  std::unique_ptr<SharedMetrics> metrics(SharedMetrics::create(processes));
  if (!metrics) {
    std::perror("backend: [error] mmap");
    return 1;
  }

  sigset_t mask, old_mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, &old_mask);

  std::vector<pid_t> pids(processes, 0);
  std::vector<uint64_t> started(processes, 0);
  for (size_t i = 0; i < processes; ++i) {
    pids[i] = spawn(options, *metrics, i, port, fd, old_mask);
    started[i] = nowMs();
  }
  std::printf("backend: listening on %s:%d with %u processes\n", options.host.c_str(), port, processes);
  std::fflush(stdout);
  if (!options.port_file.empty()) {
    const std::string tmp = options.port_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n", port);
      std::fclose(f);
      std::rename(tmp.c_str(), options.port_file.c_str());
    }
  }

  bool stopping = false;
  int exit_code = 0;
  uint64_t kill_deadline = 0;
  while (true) {
    timespec wait{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&mask, nullptr, &wait);
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      stopping = true;
      kill_deadline = nowMs() + options.shutdown_grace_ms + 5000;
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGTERM);
    }
    // Reap every worker that ended.
    int status;
    pid_t dead;
    while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (pids[i] != dead) continue;
        pids[i] = 0;
        const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (stopping) {
          if (!clean) exit_code = 1;
          break;
        }
        std::fprintf(stderr, "backend: [warn] worker %d ended (%s %d); restarting it\n", static_cast<int>(dead),
                     WIFSIGNALED(status) ? "signal" : "status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        metrics->slot(i).pid.store(0);
        // A worker dying at once again and again must not spin the machine.
        const uint64_t since = nowMs() - started[i];
        if (since < 200) usleep(static_cast<useconds_t>((200 - since) * 1000));
        pids[i] = spawn(options, *metrics, i, port, fd, old_mask);
        started[i] = nowMs();
      }
    }
    if (stopping) {
      bool any = false;
      for (pid_t p : pids) any |= p > 0;
      if (!any) break;
      if (nowMs() > kill_deadline) {
        for (pid_t p : pids)
          if (p > 0) kill(p, SIGKILL);
        exit_code = 1;
      }
    }
  }
  ::close(fd);
  return exit_code;
}

}  // namespace edged::backend
