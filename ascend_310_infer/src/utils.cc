/**
 * File helpers of the MindIR inference program (see inc/utils.h). POSIX calls rather than
 * std::filesystem, so the program also builds with the older GCC of Ascend hosts.
 */
#include "utils.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace infer {

namespace {

bool IsRegularFile(const std::string &path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool IsDirectory(const std::string &path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool EndsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string JoinPath(const std::string &folder, const std::string &name) {
  if (folder.empty()) {
    return name;
  }
  return folder.back() == '/' ? folder + name : folder + "/" + name;
}

std::vector<std::string> ListFiles(const std::string &folder, const std::string &suffix) {
  DIR *dir = opendir(folder.c_str());
  if (dir == nullptr) {
    throw std::runtime_error("cannot open input folder " + folder + ": " + std::strerror(errno));
  }
  std::vector<std::string> names;
  for (struct dirent *entry = readdir(dir); entry != nullptr; entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (EndsWith(name, suffix) && IsRegularFile(JoinPath(folder, name))) {
      names.push_back(name);
    }
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  std::vector<std::string> paths;
  paths.reserve(names.size());
  for (const auto &name : names) {
    paths.push_back(JoinPath(folder, name));
  }
  return paths;
}

std::vector<char> ReadFile(const std::string &path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) {
    throw std::runtime_error("cannot open " + path + " for reading");
  }
  std::vector<char> content((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  if (stream.bad()) {
    throw std::runtime_error("error while reading " + path);
  }
  return content;
}

void WriteFile(const std::string &path, const void *data, size_t size) {
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  if (!stream) {
    throw std::runtime_error("cannot open " + path + " for writing");
  }
  stream.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
  if (!stream) {
    throw std::runtime_error("error while writing " + path);
  }
}

void MakeDirectories(const std::string &path) {
  if (path.empty()) {
    throw std::runtime_error("empty folder name");
  }
  std::string partial = path.front() == '/' ? "" : ".";
  for (const auto &piece : Split(path, '/')) {
    partial += "/" + piece;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      throw std::runtime_error("cannot create folder " + partial + ": " + std::strerror(errno));
    }
  }
  if (!IsDirectory(path)) {
    throw std::runtime_error(path + " exists but is not a folder");
  }
}

std::string FileStem(const std::string &path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::vector<std::string> Split(const std::string &text, char separator) {
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) {
      end = text.size();
    }
    if (end > start) {
      pieces.push_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return pieces;
}

}  // namespace infer
