using System.Runtime.InteropServices;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// The processor time the calling thread has used, where the platform gives it cheaply: Linux (the gateway's
/// container) through <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>. Elsewhere null, and callers fall back to
/// wall-clock time.
/// </summary>
internal static class ThreadCpuTime
{
    private const int ClockThreadCpuTimeId = 3;

    private static readonly bool Available = OperatingSystem.IsLinux() && TryRead(out _);

    /// <summary>Milliseconds of processor time this thread has used, or null where unknown.</summary>
    public static long? Milliseconds() => Available && TryRead(out var ms) ? ms : null;

    private static bool TryRead(out long milliseconds)
    {
        milliseconds = 0;
        try
        {
            if (ClockGetTime(ClockThreadCpuTimeId, out var value) != 0)
            {
                return false;
            }

            milliseconds = (value.Seconds * 1000) + (value.Nanoseconds / 1_000_000);
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clockId, out Timespec value);

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
