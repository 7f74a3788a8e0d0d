#include "connection_pool.hpp"

#include <pthread.h>

#include <memory>

namespace zdd_demo {

namespace {

thread_local bool t_refusing = false;

}  // namespace

ConnectionPool::ConnectionPool(size_t max_connections, size_t stack_bytes)
    : max_(max_connections), stack_bytes_(stack_bytes), shared_(std::make_shared<Shared>()) {}

ConnectionPool::~ConnectionPool() {
    shutdown();
}

bool ConnectionPool::refusing() {
    return t_refusing;
}

size_t ConnectionPool::active() const {
    std::lock_guard lock(shared_->mu);
    return shared_->active;
}

void* ConnectionPool::run(void* arg) {
    std::unique_ptr<Job> job(static_cast<Job*>(arg));
    job->fn();
    job->fn = nullptr;  // release what the connection held before counting it gone
    finished(*job->shared);
    return nullptr;
}

void ConnectionPool::finished(Shared& shared) {
    std::lock_guard lock(shared.mu);
    --shared.active;
    shared.cv.notify_all();
}

void ConnectionPool::enqueue(std::function<void()> fn) {
    bool room;
    {
        std::lock_guard lock(shared_->mu);
        room = shared_->active < max_;
        if (room) ++shared_->active;
    }
    if (room) {
        auto* job = new Job{std::move(fn), shared_};
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, stack_bytes_);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t tid;
        const int rc = pthread_create(&tid, &attr, &ConnectionPool::run, job);
        pthread_attr_destroy(&attr);
        if (rc == 0) return;
        // No thread to be had (EAGAIN): refuse this one rather than queue it.
        std::unique_ptr<Job> failed(job);
        fn = std::move(failed->fn);
        finished(*shared_);
    }
    t_refusing = true;
    fn();
    t_refusing = false;
}

void ConnectionPool::shutdown() {
    std::unique_lock lock(shared_->mu);
    shared_->cv.wait(lock, [&] { return shared_->active == 0; });
}

}  // namespace zdd_demo
