using System.Text;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>Reading password files: what mosquitto_passwd writes is accepted, anything else is refused by line number.</summary>
public sealed class MosquittoPasswordFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-passwd-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    public static TheoryData<string, string> Malformed() => new()
    {
        { "plain text", "monitor-1:pw-1" },
        { "no user", ":$7$101$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "no colon", "monitor-1" },
        { "iterations beyond int", "m:$7$99999999999$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "iterations beyond the cap", "m:$7$1000001$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "zero iterations", "m:$7$0$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "negative iterations", "m:$7$-5$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "bad base64", "m:$7$101$not*base64$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "empty hash", "m:$6$aMWIceM/+72T1xiy$" },
        { "unknown scheme", "m:$5$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx/BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "NUL in the hash", "m:$7$101$aMWIceM/+72T1xiy$WL6JE3BVWG0JRxHBKx\0BlEJJMtYXrnkXPGAsA2vODddZUwU8SbiAdkWFAAet3+WAJGlSPGAxU7K8nIeR4fV38g==" },
        { "a megabyte line", "m:" + new string('$', 1 << 20) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void GivenALineThatIsNotAMosquittoHash_WhenTheFileIsRead_ThenItIsRefusedByLineNumberWithoutItsText(string label, string line)
    {
        var file = Path.Combine(folder, "passwords");
        MosquittoPasswd.Add(file, "monitor-1", "pw-1", create: true);
        File.AppendAllText(file, "# comment\n\n" + line + "\n");

        var problem = MosquittoPasswordFile.Problem(file);

        Assert.NotNull(problem);
        Assert.Contains("line 4", problem);
        Assert.True(problem.Length < 400, label);
        Assert.DoesNotContain("pw-1", problem);
    }

    [Fact]
    public void GivenAUserTwice_WhenTheFileIsRead_ThenItIsRefused()
    {
        var file = Path.Combine(folder, "passwords");
        MosquittoPasswd.Add(file, "monitor-1", "pw-1", create: true);
        File.AppendAllLines(file, [File.ReadAllLines(file)[0]]);

        Assert.Contains("line 2 repeats a user", MosquittoPasswordFile.Problem(file));
    }

    [Fact]
    public void GivenMosquittoPasswdLines_WhenVerified_ThenOnlyTheExactPasswordOfThatUserMatches()
    {
        var file = Path.Combine(folder, "passwords");
        MosquittoPasswd.Add(file, "monitor-1", "pw-1", create: true);
        MosquittoPasswd.Add(file, "monitor-2", "p\u00e4ss-2");
        File.AppendAllText(file, "\r\n");

        var passwords = MosquittoPasswordFile.Load(file);

        Assert.Equal(2, passwords.Count);
        Assert.True(passwords.Verify("monitor-1", "pw-1"u8));
        Assert.True(passwords.Verify("monitor-2", Encoding.UTF8.GetBytes("p\u00e4ss-2")));
        Assert.False(passwords.Verify("monitor-2", "pw-1"u8));
        Assert.False(passwords.Verify("Monitor-1", "pw-1"u8));
        Assert.False(passwords.Verify(null, "pw-1"u8));
        Assert.False(passwords.Verify("monitor-1", new byte[1 << 20]));
    }

    [Fact]
    public void GivenAMissingFile_WhenValidated_ThenTheProblemSaysHowToMakeOne()
    {
        Assert.Contains("mosquitto_passwd -c", MosquittoPasswordFile.Problem(Path.Combine(folder, "absent")));
    }
}
