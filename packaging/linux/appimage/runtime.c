/*
 * PoT Miner's AppImage type-2 runtime, built from Debian's squashfuse and libfuse3 (no download).
 *
 * Why our own: the upstream runtime and appimagetool are only published as GitHub release binaries,
 * which this project's build machines cannot fetch. This file implements the same contract
 * (AppImage specification, type 2): an ELF executable carrying the magic bytes "AI\x02" at offset 8,
 * followed directly by a SquashFS image of an AppDir; the image starts where the ELF ends
 * (section header table end). Running it:
 *   - mounts the image read-only with FUSE on a fresh /tmp/.mount_potminerXXXXXX and runs AppDir/AppRun
 *     with APPIMAGE, APPDIR, ARGV0 and OWD set, forwarding the arguments, signals and exit status;
 *     it keeps serving until the app and anything else still running from the mount have exited
 *     (a daemon the window started), then unmounts;
 *   - if FUSE is unavailable (no /dev/fuse or fusermount3, e.g. in containers) or
 *     APPIMAGE_EXTRACT_AND_RUN=1, extracts once into $XDG_CACHE_HOME/potminer/appimage/<id>/ and runs from there;
 *   - --appimage-extract unpacks into ./squashfs-root; --appimage-offset prints the image offset;
 *     --appimage-mount mounts and prints the mount point until interrupted; --appimage-help.
 *
 * Build: packaging/linux/appimage/build_runtime.sh (static, so it runs on any x86_64/aarch64 distro).
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 32

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fuse3/fuse_lowlevel.h>
#include <squashfuse/ll.h>
#include <squashfuse/traverse.h>

/* Reserved like the upstream runtime, so update-info readers (AppImageUpdate, AppImageLauncher)
 * find the section; empty means "no update information". */
__attribute__((section(".upd_info"), used)) static char upd_info[1024];
__attribute__((section(".sha256_sig"), used)) static char sha256_sig[1024];
__attribute__((section(".sig_key"), used)) static char sig_key[8192];

static void die(const char *what) {
    fprintf(stderr, "AppImage runtime: %s: %s\n", what, strerror(errno));
    exit(127);
}

/* The SquashFS offset: end of the ELF section header table (the last thing the linker writes). */
static off_t elf_size(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    unsigned char ident[EI_NIDENT];
    if (pread(fd, ident, sizeof ident, 0) != (ssize_t)sizeof ident || memcmp(ident, ELFMAG, SELFMAG) != 0) {
        fprintf(stderr, "AppImage runtime: %s is not an ELF file\n", path);
        exit(127);
    }
    off_t size;
    if (ident[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) die("read ELF header");
        size = (off_t)eh.e_shoff + (off_t)eh.e_shentsize * eh.e_shnum;
    } else {
        Elf32_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) die("read ELF header");
        size = (off_t)eh.e_shoff + (off_t)eh.e_shentsize * eh.e_shnum;
    }
    close(fd);
    return size;
}

/* ---------------------------------------------------------------- extraction */

static int write_file(sqfs *fs, sqfs_inode *inode, const char *dest) {
    int fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    static char buf[1 << 20];
    uint64_t size = inode->xtra.reg.file_size, pos = 0;
    while (pos < size) {
        sqfs_off_t n = (sqfs_off_t)(size - pos < sizeof buf ? size - pos : sizeof buf);
        if (sqfs_read_range(fs, inode, (sqfs_off_t)pos, &n, buf) != SQFS_OK) { close(fd); errno = EIO; return -1; }
        for (sqfs_off_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0) { close(fd); return -1; }
            done += w;
        }
        pos += (uint64_t)n;
    }
    if (fchmod(fd, inode->base.mode & 07777) != 0 || close(fd) != 0) return -1;
    return 0;
}

/* Unpack the whole image under dest (which must exist). Returns 0 on success. */
static int extract(const char *image, off_t offset, const char *dest) {
    sqfs fs;
    if (sqfs_open_image(&fs, image, (size_t)offset) != SQFS_OK) {
        fprintf(stderr, "AppImage runtime: no SquashFS image at offset %lld of %s\n", (long long)offset, image);
        return -1;
    }
    sqfs_traverse trv;
    if (sqfs_traverse_open(&trv, &fs, sqfs_inode_root(&fs)) != SQFS_OK) return -1;
    sqfs_err err = SQFS_OK;
    char path[PATH_MAX * 2];
    int rc = 0;
    while (rc == 0 && sqfs_traverse_next(&trv, &err)) {
        if (trv.dir_end) continue;
        snprintf(path, sizeof path, "%s/%s", dest, trv.path);
        sqfs_inode inode;
        if (sqfs_inode_get(&fs, &inode, sqfs_dentry_inode(&trv.entry)) != SQFS_OK) { rc = -1; break; }
        switch (inode.base.inode_type) {
        case SQUASHFS_DIR_TYPE:
        case SQUASHFS_LDIR_TYPE:
            if (mkdir(path, 0700) != 0 && errno != EEXIST) rc = -1;
            /* Final modes are set bottom-up below (a read-only dir must stay writable while filled). */
            break;
        case SQUASHFS_REG_TYPE:
        case SQUASHFS_LREG_TYPE:
            unlink(path);
            rc = write_file(&fs, &inode, path);
            break;
        case SQUASHFS_SYMLINK_TYPE:
        case SQUASHFS_LSYMLINK_TYPE: {
            char target[PATH_MAX];
            size_t size = sizeof target;
            if (sqfs_readlink(&fs, &inode, target, &size) != SQFS_OK) { rc = -1; break; }
            unlink(path);
            rc = symlink(target, path);
            break;
        }
        default: /* devices, fifos, sockets: an AppDir has none */
            break;
        }
        if (rc != 0) fprintf(stderr, "AppImage runtime: cannot extract %s: %s\n", path, strerror(errno));
    }
    if (err != SQFS_OK) rc = -1;
    sqfs_traverse_close(&trv);
    if (rc == 0) { /* second pass: directory modes */
        if (sqfs_traverse_open(&trv, &fs, sqfs_inode_root(&fs)) != SQFS_OK) return -1;
        while (sqfs_traverse_next(&trv, &err)) {
            if (trv.dir_end || !sqfs_dentry_is_dir(&trv.entry)) continue;
            sqfs_inode inode;
            if (sqfs_inode_get(&fs, &inode, sqfs_dentry_inode(&trv.entry)) != SQFS_OK) continue;
            snprintf(path, sizeof path, "%s/%s", dest, trv.path);
            chmod(path, (inode.base.mode & 07777) | 0700);
        }
        sqfs_traverse_close(&trv);
    }
    sqfs_destroy(&fs);
    return rc;
}

static int mkdirs(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(tmp, 0700) != 0 && errno != EEXIST) ? -1 : 0;
}

/* Extract once per image into the user's cache (keyed by size, mtime and offset) and return the dir. */
static char *extract_to_cache(const char *image, off_t offset) {
    struct stat st;
    if (stat(image, &st) != 0) die(image);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[PATH_MAX], dir[PATH_MAX + 64], marker[PATH_MAX + 96], tmp[PATH_MAX + 96];
    if (xdg && *xdg) snprintf(base, sizeof base, "%s/potminer/appimage", xdg);
    else if (home && *home) snprintf(base, sizeof base, "%s/.cache/potminer/appimage", home);
    else snprintf(base, sizeof base, "/tmp/potminer-appimage-%u", (unsigned)getuid());
    snprintf(dir, sizeof dir, "%s/%llx-%llx-%llx", base, (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime, (unsigned long long)offset);
    snprintf(marker, sizeof marker, "%s/.complete", dir);
    if (access(marker, F_OK) == 0) return strdup(dir);
    if (mkdirs(base) != 0) die(base);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", dir, (long)getpid());
    if (mkdir(tmp, 0700) != 0) die(tmp);
    fprintf(stderr, "AppImage runtime: running without FUSE; extracting once into %s\n", dir);
    if (extract(image, offset, tmp) != 0) exit(127);
    if (rename(tmp, dir) != 0 && errno != ENOTEMPTY && errno != EEXIST) die(dir); /* a racing run won */
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    return strdup(dir);
}

/* ---------------------------------------------------------------- running */

static pid_t child_pid = 0;

static void forward_signal(int sig) {
    if (child_pid > 0) kill(child_pid, sig);
}

static pid_t spawn_apprun(const char *appdir, const char *image, int argc, char **argv) {
    char apprun[PATH_MAX + 16], owd[PATH_MAX];
    snprintf(apprun, sizeof apprun, "%s/AppRun", appdir);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid > 0) return pid;
    setenv("APPIMAGE", image, 1);
    setenv("APPDIR", appdir, 1);
    setenv("ARGV0", argv[0], 1);
    if (getcwd(owd, sizeof owd)) setenv("OWD", owd, 1);
    char **args = calloc((size_t)argc + 1, sizeof *args);
    args[0] = apprun;
    for (int i = 1; i < argc; i++) args[i] = argv[i];
    execv(apprun, args);
    fprintf(stderr, "AppImage runtime: cannot run %s: %s\n", apprun, strerror(errno));
    _exit(127);
}

static int exit_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

/* True while any process other than us has the mount as its executable, cwd, root or a mapped file
 * (/proc entries we cannot read belong to other users and cannot use a mount private to us). */
static int mount_in_use(const char *mnt) {
    size_t len = strlen(mnt);
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    struct dirent *d;
    int used = 0;
    char path[300], link[PATH_MAX], line[PATH_MAX + 256];
    while (!used && (d = readdir(proc))) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9' || atoi(d->d_name) == getpid()) continue;
        static const char *links[] = {"exe", "cwd", "root"};
        for (int i = 0; i < 3 && !used; i++) {
            snprintf(path, sizeof path, "/proc/%s/%s", d->d_name, links[i]);
            ssize_t n = readlink(path, link, sizeof link - 1);
            if (n > 0) { link[n] = 0; used = strncmp(link, mnt, len) == 0 && (link[len] == '/' || !link[len]); }
        }
        snprintf(path, sizeof path, "/proc/%s/maps", d->d_name);
        FILE *maps = used ? NULL : fopen(path, "re");
        while (maps && !used && fgets(line, sizeof line, maps)) used = strstr(line, mnt) != NULL;
        if (maps) fclose(maps);
    }
    closedir(proc);
    return used;
}

struct watch { struct fuse_session *se; const char *mnt; int status; };

/* Reaps AppRun, waits for leftovers (e.g. a daemon the window started) to leave the mount, then
 * ends the FUSE loop by unmounting. */
static void *watcher(void *arg) {
    struct watch *w = arg;
    while (waitpid(child_pid, &w->status, 0) < 0 && errno == EINTR) {}
    child_pid = 0;
    while (mount_in_use(w->mnt)) sleep(2);
    fuse_session_exit(w->se);
    fuse_session_unmount(w->se);
    return NULL;
}

static int run_mounted(const char *image, off_t offset, int argc, char **argv, int mount_only) {
    if (access("/dev/fuse", R_OK | W_OK) != 0) return -1;
    char mnt[] = "/tmp/.mount_potminerXXXXXX";
    if (!mkdtemp(mnt)) return -1;
    sqfs_ll *ll = sqfs_ll_open(image, (size_t)offset);
    if (!ll) { rmdir(mnt); return -1; }
    struct fuse_lowlevel_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.getattr = sqfs_ll_op_getattr;
    ops.opendir = sqfs_ll_op_opendir;
    ops.releasedir = sqfs_ll_op_releasedir;
    ops.readdir = sqfs_ll_op_readdir;
    ops.lookup = sqfs_ll_op_lookup;
    ops.open = sqfs_ll_op_open;
    ops.create = sqfs_ll_op_create;
    ops.release = sqfs_ll_op_release;
    ops.read = sqfs_ll_op_read;
    ops.readlink = sqfs_ll_op_readlink;
    ops.listxattr = sqfs_ll_op_listxattr;
    ops.getxattr = sqfs_ll_op_getxattr;
    ops.forget = sqfs_ll_op_forget;
    ops.statfs = stfs_ll_op_statfs;
    char *fargv[] = {"potminer-appimage", "-o", "ro,fsname=potminer.AppImage,subtype=appimage", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    sqfs_ll_chan ch;
    if (sqfs_ll_mount(&ch, mnt, &args, &ops, sizeof ops, ll) != SQFS_OK) {
        rmdir(mnt);
        return -1;
    }
    if (mount_only) {
        printf("%s\n", mnt);
        fflush(stdout);
        fuse_set_signal_handlers(ch.session);
        fuse_session_loop(ch.session);
        fuse_remove_signal_handlers(ch.session);
        sqfs_ll_unmount(&ch, mnt);
        rmdir(mnt);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    child_pid = spawn_apprun(mnt, image, argc, argv);
    struct watch w = {ch.session, mnt, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, watcher, &w) != 0) die("pthread_create");
    fuse_session_loop(ch.session);
    pthread_join(thread, NULL);
    fuse_session_destroy(ch.session);
    sqfs_ll_destroy(ll);
    rmdir(mnt);
    return exit_status(w.status);
}

int main(int argc, char **argv) {
    char image[PATH_MAX];
    const char *env_image = getenv("TARGET_APPIMAGE"); /* upstream's override, used by some launchers */
    if (env_image && *env_image) {
        if (!realpath(env_image, image)) die(env_image);
    } else {
        ssize_t n = readlink("/proc/self/exe", image, sizeof image - 1);
        if (n < 0) die("/proc/self/exe");
        image[n] = 0;
    }
    off_t offset = elf_size(image);
    const char *arg = argc > 1 ? argv[1] : "";

    if (strcmp(arg, "--appimage-offset") == 0) {
        printf("%lld\n", (long long)offset);
        return 0;
    }
    if (strcmp(arg, "--appimage-help") == 0) {
        printf("PoT Miner AppImage. Without these options it runs the app (arguments go to it).\n"
               "  --appimage-extract   unpack into ./squashfs-root\n"
               "  --appimage-mount     mount read-only, print the mount point, serve until Ctrl-C\n"
               "  --appimage-offset    print the offset of the SquashFS image\n"
               "  APPIMAGE_EXTRACT_AND_RUN=1  do not use FUSE; run from an extracted copy in the cache\n");
        return 0;
    }
    if (strcmp(arg, "--appimage-extract") == 0) {
        if (mkdir("squashfs-root", 0755) != 0 && errno != EEXIST) die("squashfs-root");
        int rc = extract(image, offset, "squashfs-root");
        if (rc == 0) printf("squashfs-root\n");
        return rc == 0 ? 0 : 1;
    }
    if (strcmp(arg, "--appimage-mount") == 0) {
        if (run_mounted(image, offset, argc, argv, 1) != 0) {
            fprintf(stderr, "AppImage runtime: cannot mount (is FUSE 3 with fusermount3 installed?)\n");
            return 1;
        }
        return 0;
    }
    const char *ear = getenv("APPIMAGE_EXTRACT_AND_RUN");
    if (!(ear && strcmp(ear, "1") == 0)) {
        int rc = run_mounted(image, offset, argc, argv, 0);
        if (rc >= 0) return rc;
    }
    char *dir = extract_to_cache(image, offset);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    child_pid = spawn_apprun(dir, image, argc, argv);
    int status = 0;
    while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {}
    return exit_status(status);
}
